// Package stress is the load client behind `trinity stress`: it drives the price service
// (LPO) and the report service (LRS) over HTTP and UDP with closed-loop concurrency ladders,
// sustained runs and open-loop constant-rate runs, validates every answer, counts errors by
// kind, records latency in mergeable histograms (package hist), draws charts (package chart)
// and merges the results of distributed workers.
//
// # Request paths
//
// HTTP (tcp-lpo, tcp-lrs): a hand-written HTTP/1.1 keep-alive client, one goroutine per
// connection, one request outstanding per connection (no pipelining, like wrk). Requests are
// pre-built per target, key and asset; responses are parsed in place (status line,
// Content-Length, chunked bodies, Connection: close). The steady state allocates nothing
// (TestHTTPRequestPathAllocs). A connection that errs, times out or is closed by the server
// is re-dialled; failed dials back off from 10 ms to 1 s and each counts as one failed request.
//
// UDP (udp-lpo, udp-lrs): Plan.UDPSockets persistent connected sockets per target, each with a
// goroutine that pipelines requests with sendmmsg and reads answers with recvmmsg (Linux
// only). Every request carries a 16-hex-digit string id, echoed by the server, by which
// answers are matched to their send time; answers matching nothing in flight (late after a
// timeout, or foreign) are ignored and noted. Requests are padded to Plan.UDPPad bytes when
// asked, because the server's answers are at most 3× the request.
//
// # What the numbers mean
//
//   - Concurrency is requests in flight. For TCP it is the number of connections; for UDP the
//     requests in flight, spread over the sockets. In a mix the weights split it (largest
//     remainder), and in an open-loop run they split the rate.
//   - RPS is finished requests (successful or not) per second of the phase.
//   - Success is OK answers over finished requests: HTTP 200 whose body has "price" (LPO) or
//     is valid JSON (LRS); for UDP additionally the matching id and no "error" member.
//     Errors are counted by kind (Kind): timeout, refused, reset, 429, 5xx, other 4xx, bad
//     body, other.
//   - Latency covers every request that got an answer of any status, and timeouts (at the
//     time waited); connection failures are counted, not timed. Closed loop measures from the
//     send; open loop (Phase.Rate) from the request's intended send time, so time spent
//     waiting for a free connection counts (coordinated omission corrected, as in wrk2).
//     Requests still in flight when a run ends are not counted.
//   - A request is a timeout after between 15/16 and 16/16 of Plan.Timeout (HTTP deadlines
//     are moved lazily to save a timer update per request); UDP checks every
//     min(timeout/8, 50 ms).
//   - Requests finishing during a phase belong to it; phase boundaries take snapshots of
//     lock-free sharded counters, so nothing is lost or counted twice.
//
// # Resources
//
// The CLI raises RLIMIT_NOFILE to the hard limit. Before each phase the engine checks the
// TCP connections it needs against the free file descriptors and the ephemeral port range;
// a level that does not fit is capped and says so in its notes and on the warning writer.
// EMFILE and EADDRNOTAVAIL seen while dialling are noted as well.
//
// The package talks only to the targets it is given; it imports no other Trinity package, so
// what it measures is the wire protocol, exactly as an outside client sees it.
package stress
