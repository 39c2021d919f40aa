module github.com/trinityprice/trinity

go 1.26.8

// Direct dependencies, each chosen for its job (see docs/dependencies.md):
require (
	github.com/VictoriaMetrics/metrics v1.45.0 // Prometheus text metrics: atomic counters, small, no protobuf
	github.com/coder/websocket v1.8.15 // maintained WebSocket client/server, context-based, zero-alloc reads
	github.com/jackc/pgx/v5 v5.13.0 // PostgreSQL driver and pool
	github.com/panjf2000/gnet/v2 v2.9.7 // epoll event-loop engine of the HTTP price API (chosen by bench/http.sh)
	github.com/pressly/goose/v3 v3.30.1 // embedded SQL migrations for SQLite and PostgreSQL
	github.com/valyala/fasthttp v1.79.0 // HTTP/1.1 server of the price API over TLS and as --http-engine fasthttp
	github.com/valyala/fastjson v1.6.10 // validating, reusable-parser JSON for exchange frames (0 allocs per frame)
	golang.org/x/sync v0.25.0 // errgroup for component lifetimes
	golang.org/x/sys v0.50.0 // SO_REUSEPORT, recvmmsg/sendmmsg, rlimits
	modernc.org/sqlite v1.62.0 // embedded SQL store without cgo
)


require (
	github.com/dustin/go-humanize v1.1.0 // indirect
	github.com/google/uuid v1.6.0 // indirect
	github.com/jackc/pgpassfile v1.0.0 // indirect
	github.com/jackc/pgservicefile v0.0.0-20240606120523-5a60cdf6a761 // indirect
	github.com/jackc/puddle/v2 v2.2.3 // indirect
	github.com/klauspost/compress v1.20.4 // indirect
	github.com/mattn/go-isatty v0.0.24 // indirect
	github.com/mfridman/interpolate v0.2.0 // indirect
	github.com/molecule-man/go-brrr v1.3.1 // indirect
	github.com/ncruces/go-strftime v1.1.0 // indirect
	github.com/panjf2000/ants/v2 v2.11.3 // indirect
	github.com/remyoudompheng/bigfft v0.0.0-20230129092748-24d4a6f8daec // indirect
	github.com/sethvargo/go-retry v0.5.0 // indirect
	github.com/valyala/bytebufferpool v1.0.0 // indirect
	github.com/valyala/fastrand v1.1.0 // indirect
	github.com/valyala/histogram v1.2.0 // indirect
	go.uber.org/multierr v1.11.0 // indirect
	go.uber.org/zap v1.27.0 // indirect
	golang.org/x/text v0.44.0 // indirect
	gopkg.in/natefinch/lumberjack.v2 v2.2.1 // indirect
	modernc.org/libc v1.80.2 // indirect
	modernc.org/mathutil v1.7.1 // indirect
	modernc.org/memory v1.12.1 // indirect
)
