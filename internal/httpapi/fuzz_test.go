package httpapi

import (
	"bytes"
	"testing"
	"time"
)

// FuzzServeBuffer feeds arbitrary bytes to the gnet engine's parse-and-answer path. It must
// never panic or consume more than it was given, and whatever it answers is a sequence of
// HTTP/1.1 responses.
func FuzzServeBuffer(f *testing.F) {
	for _, seed := range []string{
		get("/price?asset=btc"),
		get("/prices?assets=btc%2Ceth,nope") + get("/assets"),
		"POST /prices HTTP/1.1\r\nAuthorization: Bearer " + testKey + "\r\nContent-Length: 24\r\n\r\n" + `{"assets":["btc","eth"]}`,
		"HEAD /price?asset=btc HTTP/1.0\r\n\r\n",
		"GET /price?asset=%zz HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n",
		"GET / HTTP/1.1\r\nContent-Length: 99999999999999999999\r\n\r\n",
		"HELLO\r\n\r\n",
		"GET /price?asset=btc HTTP/1.1\r\nAuthorization: Bearer " + testKey + "\r\n", // incomplete
	} {
		f.Add([]byte(seed))
	}
	s, _ := newTestServer(f)
	f.Fuzz(func(t *testing.T, in []byte) {
		w := getResponse()
		defer putResponse(w)
		out, n, _ := s.serveBuffer(in, nil, w, time.Unix(1_700_000_000, 0))
		if n < 0 || n > len(in) {
			t.Fatalf("consumed %d of %d bytes", n, len(in))
		}
		if len(out) > 0 && !bytes.HasPrefix(out, []byte("HTTP/1.1 ")) {
			t.Fatalf("answer does not start with a status line: %q", out[:min(len(out), 40)])
		}
	})
}
