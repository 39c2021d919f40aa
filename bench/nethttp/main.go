// Command nethttp is the smallest net/http server answering a fixed body: the ceiling of the
// standard library's HTTP engine, measured by bench/http.sh beside Trinity (fasthttp) and nginx
// to justify the engine choice.
package main

import (
	"flag"
	"log"
	"net/http"
	"os"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:8089", "listen address")
	bodyFile := flag.String("body", "", "file whose bytes are the answer")
	flag.Parse()
	body, err := os.ReadFile(*bodyFile)
	if err != nil {
		log.Fatal(err)
	}
	http.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Write(body)
	})
	log.Fatal(http.ListenAndServe(*addr, nil))
}
