//go:build !race

package lpo_test

import (
	"testing"

	"github.com/trinityprice/trinity/internal/lpo"
)

func TestParseRequestAllocs(t *testing.T) {
	s := newTestService(t)
	single := []byte(`{"key":"tb_live_abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG","asset":"btc","id":"req-42","pad":{"a":[1,2.5e3,true,null,"x\n"]}}`)
	batch := []byte(`{"key":"k","assets":["btc","eth","BTC","sol","nope"],"id":7}`)
	bad := []byte(`{"key":"k",`)
	var r lpo.Request
	var b lpo.Batch
	n := testing.AllocsPerRun(1000, func() {
		if e := lpo.ParseRequest(single, &r); e != nil {
			t.Fatal(e)
		}
		if e := lpo.ParseRequest(batch, &r); e != nil {
			t.Fatal(e)
		}
		b.Reset()
		if e := b.AddJSONArray(s, r.Assets); e != nil {
			t.Fatal(e)
		}
		if e := lpo.ParseRequest(bad, &r); e != lpo.ErrBadJSON {
			t.Fatal(e)
		}
	})
	if n != 0 {
		t.Fatalf("ParseRequest + AddJSONArray: %v allocs per run, want 0", n)
	}
}
