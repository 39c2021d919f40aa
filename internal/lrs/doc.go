// Package lrs is the report service (the "listener report service", DESIGN §4 "LRS"): a
// key's own usage reports over HTTP (:9090) and UDP (:2680), read from the store.
//
// Four reports, each over both transports:
//
//   - usage: the key's per-minute usage rows (minute, protocol, endpoint, asset, outcome,
//     count), one page per call (limit, cursor);
//   - summary: totals per UTC day and month, and the monthly quota used and remaining;
//   - report-usage: the key's own report requests, newest first, one page per call;
//   - report-summary: report requests per month and this month's report allowance.
//
// Over HTTP a report is GET /reports/<report> with the key as "Authorization: Bearer <key>"
// (or, for links that cannot carry headers, the api_key query parameter), in format json
// (default), csv, tsv or text. Over UDP it is one JSON datagram
// {"key":…,"report":…,"id":…,"from":…,"to":…,"limit":…,"cursor":…} answered with the same
// JSON as HTTP plus the echoed "id", never more than three times the request's size.
//
// # Parameters
//
// from and to are a UTC date (YYYY-MM-DD) or an RFC 3339 instant. A date in from means its
// 00:00 UTC; a date in to includes that whole day. Answers give the effective bounds as RFC
// 3339 instants, from inclusive and to exclusive. Without to, to is now; without from, from is
// the start of the UTC month that to falls in, so the default is the current month so far.
// limit (usage and report-usage) is 1..10000, default 1000. cursor is the next_cursor of the
// previous page, "" or absent for the first page; it is only valid for the report that made
// it.
//
// # Report allowance
//
// Each key may receive tier.ReportsPerMonth reports per UTC calendar month (0: unlimited).
// Only reports actually delivered count: a call that is refused (401, 403, 400, 429, 503) or
// whose UDP answer did not fit (request_too_small, answer_too_large) does not. Delivered
// reports are logged with store.UsageStore.LogReport (status 200) and are what
// report-usage lists; the refusals are not logged, so a key that has used its allowance
// cannot load the store with writes. A call made when the month's delivered reports have
// reached the allowance is refused with 429 report_quota_exceeded and Retry-After set to the
// seconds until the next UTC month.
//
// The check (count the month's logged reports, at most allowance rows read) and the log write
// run under a per-key lock, so on one instance the allowance is exact. Several instances
// sharing a store may together exceed it by at most the number of that key's reports in
// flight on the other instances at the same moment.
//
// Package lrs reads the store only through store.UsageStore and keys only through Lookup; it
// must not import a store backend directly, the price path (lpo, httpapi, udpapi) or the
// command line.
package lrs
