package cli

import (
	"context"
	crand "crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"encoding/base64"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"math"
	"math/rand/v2"
	"runtime"
	"strings"
	"sync"
	"time"

	"github.com/VictoriaMetrics/metrics"
	"golang.org/x/sync/errgroup"

	"github.com/trinityprice/trinity/internal/admin"
	"github.com/trinityprice/trinity/internal/feed"
	"github.com/trinityprice/trinity/internal/feed/bybit"
	"github.com/trinityprice/trinity/internal/feed/coinbase"
	"github.com/trinityprice/trinity/internal/feed/cryptocom"
	"github.com/trinityprice/trinity/internal/feed/fallback"
	"github.com/trinityprice/trinity/internal/feed/gateio"
	"github.com/trinityprice/trinity/internal/feed/gemini"
	"github.com/trinityprice/trinity/internal/feed/kraken"
	"github.com/trinityprice/trinity/internal/feed/okx"
	"github.com/trinityprice/trinity/internal/histogram"
	"github.com/trinityprice/trinity/internal/httpapi"
	"github.com/trinityprice/trinity/internal/keys"
	"github.com/trinityprice/trinity/internal/limits"
	"github.com/trinityprice/trinity/internal/lpo"
	"github.com/trinityprice/trinity/internal/lrs"
	"github.com/trinityprice/trinity/internal/metering"
	"github.com/trinityprice/trinity/internal/price"
	"github.com/trinityprice/trinity/internal/sim"
	"github.com/trinityprice/trinity/internal/store"
	"github.com/trinityprice/trinity/internal/udpapi"
)

// protocols are the exchange adapters this build has.
func protocols() map[price.Exchange]feed.Protocol {
	return map[price.Exchange]feed.Protocol{
		price.Coinbase:  coinbase.Protocol{},
		price.Kraken:    kraken.Protocol{},
		price.Gemini:    gemini.Protocol{},
		price.Gateio:    gateio.Protocol{},
		price.OKX:       okx.Protocol{},
		price.Cryptocom: cryptocom.Protocol{},
		price.Bybit:     bybit.Protocol{},
	}
}

// serveConfig is the effective configuration of trinity serve.
type serveConfig struct {
	HTTPAddr, UDPAddr, LRSAddr, LRSUDPAddr, AdminAddr string
	DB, Valkey, Feeds, Exchanges, Role, AdminKey      string
	TLSCert, TLSKey                                   string
	Assets, LogLevel, LogFormat                       string
	HTTPEngine                                        string
	UDPSockets                                        int
	Limits, Metering                                  bool
	Freshness, StaleLimit                             time.Duration
	Outlier                                           float64
	WSURL, RESTURL                                    map[price.Exchange]*string
	// Ready is called with the bound addresses once every listener is open (tests use it).
	Ready func(Addrs)
}

// Addrs are the addresses a running server bound, for tests and for the startup log.
type Addrs struct {
	HTTP, UDP, Admin string
	LRS, LRSUDP      string
	Sim              string
}

func serveFlags(fs *flag.FlagSet, c *serveConfig) {
	fs.StringVar(&c.HTTPAddr, "http-addr", ":8080", "price API over HTTP (LPO); empty or \"off\" disables")
	fs.StringVar(&c.HTTPEngine, "http-engine", httpapi.DefaultEngine, "HTTP engine for the price API: gnet (event loops) or fasthttp")
	fs.StringVar(&c.UDPAddr, "udp-addr", ":2679", "price API over UDP (LPO); empty or \"off\" disables")
	fs.StringVar(&c.LRSAddr, "lrs-addr", ":9090", "usage reports over HTTP (LRS); empty or \"off\" disables")
	fs.StringVar(&c.LRSUDPAddr, "lrs-udp-addr", ":2680", "usage reports over UDP (LRS); empty or \"off\" disables")
	fs.StringVar(&c.AdminAddr, "admin-addr", "127.0.0.1:9091", "health, readiness, metrics and pprof; empty or \"off\" disables")
	fs.StringVar(&c.DB, "db", "sqlite:./trinity-data/trinity.db", "store: sqlite:PATH or postgres://…")
	fs.StringVar(&c.Valkey, "valkey", "", "host:port of Valkey to share state with other instances (empty: single instance)")
	fs.StringVar(&c.Feeds, "feeds", "live", "price feeds: live (the real exchanges) or sim (built-in simulated exchanges)")
	fs.StringVar(&c.Exchanges, "exchanges", "", "comma-separated exchanges to use (default: all this build supports)")
	fs.StringVar(&c.Role, "role", "all", "services to run: all, lpo (prices) or lrs (reports)")
	fs.StringVar(&c.AdminKey, "admin-key", "", "admin credential for the admin API")
	fs.StringVar(&c.Assets, "assets", "", "asset map file (JSON) replacing the built-in one")
	fs.StringVar(&c.TLSCert, "tls-cert", "", "PEM certificate: serve the HTTP price and report APIs over HTTPS (with --tls-key)")
	fs.StringVar(&c.TLSKey, "tls-key", "", "PEM private key for --tls-cert")
	fs.StringVar(&c.LogLevel, "log-level", "info", "debug, info, warn or error")
	fs.StringVar(&c.LogFormat, "log-format", "text", "text or json")
	fs.BoolVar(&c.Limits, "limits", true, "enforce rate limits and quotas (false only to measure their cost)")
	fs.BoolVar(&c.Metering, "metering", true, "meter usage for reports (false only to measure its cost)")
	fs.IntVar(&c.UDPSockets, "udp-sockets", runtime.GOMAXPROCS(0), "SO_REUSEPORT sockets (one reader each) for the UDP price API")
	fs.DurationVar(&c.Freshness, "freshness", 10*time.Second, "how long an exchange's last update counts as fresh")
	fs.DurationVar(&c.StaleLimit, "stale-limit", 5*time.Minute, "how long the last price is served marked stale before 503")
	fs.Float64Var(&c.Outlier, "outlier", 0.02, "drop a source further than this fraction from the median of the others")
	c.WSURL = map[price.Exchange]*string{}
	c.RESTURL = map[price.Exchange]*string{}
	for _, ex := range price.Exchanges() {
		c.WSURL[ex] = fs.String(ex.String()+"-ws-url", "", "override the "+ex.String()+" WebSocket URL")
		c.RESTURL[ex] = fs.String(ex.String()+"-rest-url", "", "override the "+ex.String()+" REST URL")
	}
}

func enabled(addr string) bool { return addr != "" && addr != "off" }

func newLogger(w io.Writer, level, format string) (*slog.Logger, error) {
	var lv slog.Level
	if err := lv.UnmarshalText([]byte(level)); err != nil {
		return nil, fmt.Errorf("%w: --log-level %q: want debug, info, warn or error", errUsage, level)
	}
	opts := &slog.HandlerOptions{Level: lv}
	switch format {
	case "text":
		return slog.New(slog.NewTextHandler(w, opts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	}
	return nil, fmt.Errorf("%w: --log-format %q: want text or json", errUsage, format)
}

// selectExchanges resolves --exchanges against the adapters this build has.
func selectExchanges(list string, have map[price.Exchange]feed.Protocol) ([]price.Exchange, error) {
	var out []price.Exchange
	if strings.TrimSpace(list) == "" {
		for _, ex := range price.Exchanges() {
			if have[ex] != nil {
				out = append(out, ex)
			}
		}
		return out, nil
	}
	for _, name := range strings.Split(list, ",") {
		name = strings.ToLower(strings.TrimSpace(name))
		ex, ok := price.ExchangeByName(name)
		if !ok {
			return nil, fmt.Errorf("%w: --exchanges: unknown exchange %q (known: coinbase, kraken, gemini, gateio, okx, cryptocom, bybit)", errUsage, name)
		}
		if have[ex] == nil {
			return nil, fmt.Errorf("%w: --exchanges: %s is not supported by this build yet", errUsage, name)
		}
		out = append(out, ex)
	}
	return out, nil
}

func runServe(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	c, err := parseServe(args, getenv, stderr)
	if err != nil {
		return err
	}
	return serve(ctx, c, stderr)
}

// parseServe parses serve's flags and environment into a serveConfig.
func parseServe(args []string, getenv func(string) string, stderr io.Writer) (serveConfig, error) {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var c serveConfig
	serveFlags(fs, &c)
	err := parseFlags(fs, args, getenv)
	return c, err
}

// serve wires and runs every component of the service until ctx is done.
func serve(ctx context.Context, c serveConfig, logw io.Writer) error {
	log, err := newLogger(logw, c.LogLevel, c.LogFormat)
	if err != nil {
		return err
	}
	if c.Feeds != "live" && c.Feeds != "sim" {
		return fmt.Errorf("%w: --feeds %q: want live or sim", errUsage, c.Feeds)
	}
	if c.Role != "all" && c.Role != "lpo" && c.Role != "lrs" {
		return fmt.Errorf("%w: --role %q: want all, lpo or lrs", errUsage, c.Role)
	}
	if c.HTTPEngine != httpapi.EngineGnet && c.HTTPEngine != httpapi.EngineFastHTTP {
		return fmt.Errorf("%w: --http-engine %q: want gnet or fasthttp", errUsage, c.HTTPEngine)
	}
	if c.Freshness <= 0 || c.StaleLimit < 0 || c.Outlier < 0 {
		return fmt.Errorf("%w: --freshness must be > 0, --stale-limit and --outlier >= 0", errUsage)
	}
	have := protocols()
	exchanges, err := selectExchanges(c.Exchanges, have)
	if err != nil {
		return err
	}
	universe, err := price.DefaultUniverse()
	if c.Assets != "" {
		universe, err = price.LoadUniverse(c.Assets)
	}
	if err != nil {
		return err
	}
	var tlsCfg *tls.Config
	if c.TLSCert != "" || c.TLSKey != "" {
		if c.TLSCert == "" || c.TLSKey == "" {
			return fmt.Errorf("%w: --tls-cert and --tls-key go together", errUsage)
		}
		cert, err := tls.LoadX509KeyPair(c.TLSCert, c.TLSKey)
		if err != nil {
			return fmt.Errorf("load TLS certificate: %w", err)
		}
		tlsCfg = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	}
	if c.Valkey != "" {
		log.Warn("--valkey is not supported by this build yet; running as a single instance", "valkey", c.Valkey)
	}

	st, err := store.Open(ctx, c.DB, log)
	if err != nil {
		return fmt.Errorf("open store: %w", err)
	}
	defer st.Close()
	keyTable := keys.NewTable(st, log)
	if err := keyTable.Load(ctx); err != nil {
		return fmt.Errorf("load keys: %w", err)
	}

	set := metrics.NewSet()
	tickToServe := histogram.New("trinity_tick_to_serve_seconds", "", histogram.DefaultBounds)
	set.RegisterMetricsWriter(tickToServe.WritePrometheus)
	book := price.NewBook(price.BookConfig{
		Universe:  universe,
		Params:    price.Params{Freshness: c.Freshness, StaleLimit: c.StaleLimit, OutlierFraction: c.Outlier},
		OnPublish: tickToServe.Observe,
	})
	set.NewGauge("trinity_book_ticks_total", func() float64 { return float64(book.Ticks()) })
	tiers := limits.NewTierTable(nil)
	if err := loadTiers(ctx, st, tiers); err != nil {
		return err
	}
	limiter := limits.NewLimiter()
	if err := syncQuotas(ctx, st, limiter); err != nil {
		return err
	}
	var svc *lpo.Service
	meter, err := metering.New(metering.Config{
		Sink:         st,
		ProtocolName: func(u uint8) string { return lpo.Protocol(u).String() },
		EndpointName: func(u uint8) string { return lpo.Endpoint(u).String() },
		OutcomeName:  func(u uint8) string { return lpo.Outcome(u).String() },
		AssetName:    func(i int32) string { return svc.AssetName(i) },
		Logger:       log.With("component", "metering"),
	})
	if err != nil {
		return err
	}
	set.NewGauge("trinity_metering_pending_requests", func() float64 { return float64(meter.Pending()) })
	set.NewGauge("trinity_metering_flush_failures_total", func() float64 { return float64(meter.Stats().Failures) })
	cfg := lpo.Config{Book: book, Keys: keyTable, Metrics: set, Limiter: limiter, Tiers: tiers, Meter: meter}
	if !c.Limits {
		log.Warn("--limits=false: rate limits and quotas are NOT enforced")
		cfg.Limiter = nil
	}
	if !c.Metering {
		log.Warn("--metering=false: usage is NOT metered; reports will miss these requests")
		cfg.Meter = nil
	}
	svc = lpo.New(cfg)
	// The meter outlives the servers: it is stopped, with a final flush, only after every
	// listener has drained, so a graceful shutdown stores every answered request.
	meterCtx, stopMeter := context.WithCancel(context.WithoutCancel(ctx))
	meterDone := make(chan error, 1)
	go func() { meterDone <- meter.Run(meterCtx, time.Second) }()
	defer func() {
		stopMeter()
		if err := <-meterDone; err != nil {
			log.Error("final usage flush failed: counts not stored", "err", err, "pending", meter.Pending())
		}
	}()

	g, gctx := errgroup.WithContext(ctx)
	var addrs Addrs

	// Feeds: the simulator, when asked for, stands in for every exchange.
	var simSrv *sim.Server
	if c.Feeds == "sim" {
		simSrv = sim.New(universe, sim.Options{Seed: rand.Int64(), Logger: log.With("component", "sim")})
		if err := simSrv.Start("127.0.0.1:0"); err != nil {
			return fmt.Errorf("start simulator: %w", err)
		}
		addrs.Sim = simSrv.Addr()
		g.Go(func() error { return simSrv.Run(gctx) })
	}
	var runners []*feed.Runner
	var rest *fallback.Fallback
	if c.Role != "lrs" {
		for i, ex := range exchanges {
			url := *c.WSURL[ex]
			if url == "" && simSrv != nil {
				url = simSrv.URL(ex)
			}
			if url == "" {
				url = have[ex].DefaultURL()
			}
			r := feed.NewRunner(feed.RunnerConfig{
				Protocol:   have[ex],
				URL:        url,
				Symbols:    universe.Symbols(ex),
				Sink:       book,
				Logger:     log.With("component", "feed"),
				Metrics:    set,
				StartDelay: time.Duration(i) * 200 * time.Millisecond,
			})
			runners = append(runners, r)
			g.Go(func() error { return r.Run(gctx) })
		}
		g.Go(func() error { book.Run(gctx.Done(), 100*time.Millisecond); return nil })

		// REST fallback: an asset with no fresh WebSocket source is priced from a REST ticker
		// of an exchange that lists it (--<exchange>-rest-url, else the simulator's, else the
		// exchange's own); checked every min(1 s, freshness/4).
		srcs := map[price.Exchange]fallback.Source{}
		for _, ex := range exchanges {
			tk, ok := have[ex].(feed.RESTTicker)
			if !ok {
				continue
			}
			base := *c.RESTURL[ex]
			if base == "" && simSrv != nil {
				base = simSrv.RESTURL(ex)
			}
			if base == "" {
				base = tk.DefaultRESTURL()
			}
			srcs[ex] = fallback.Source{Ticker: tk, BaseURL: base}
		}
		rest = fallback.New(fallback.Config{Book: book, Sources: srcs, Interval: min(time.Second, c.Freshness/4),
			Logger: log.With("component", "rest-fallback"), Metrics: set})
		g.Go(func() error { return rest.Run(gctx) })
	}
	feeds := &feedStatus{runners: runners, live: c.Feeds == "live", rest: rest}

	// Listeners: open all before serving so address errors surface at once.
	if c.Role != "lrs" && enabled(c.HTTPAddr) {
		hs := httpapi.New(httpapi.Config{Addr: c.HTTPAddr, Service: svc, Exchanges: feeds, Logger: log.With("component", "http"), Engine: c.HTTPEngine, TLS: tlsCfg})
		if err := hs.Listen(); err != nil {
			return err
		}
		addrs.HTTP = hs.Addr().String()
		g.Go(func() error { return hs.Serve(gctx) })
	}
	if c.Role != "lrs" && enabled(c.UDPAddr) {
		us := udpapi.New(udpapi.Config{Addr: c.UDPAddr, Service: svc, Sockets: c.UDPSockets, Logger: log.With("component", "udp"), Metrics: set})
		if err := us.Listen(); err != nil {
			return err
		}
		addrs.UDP = us.LocalAddr().String()
		g.Go(func() error { return us.Serve(gctx) })
	}
	if c.Role != "lpo" {
		reports := lrs.New(lrs.Config{Store: st, Keys: keyTable, Tier: tiers.Get, Logger: log.With("component", "lrs")})
		if enabled(c.LRSAddr) {
			hs := lrs.NewHTTP(c.LRSAddr, reports, log.With("component", "lrs-http"))
			if tlsCfg != nil {
				hs.UseTLS(tlsCfg)
			}
			if err := hs.Listen(); err != nil {
				return err
			}
			addrs.LRS = hs.Addr().String()
			g.Go(func() error { return hs.Serve(gctx) })
		}
		if enabled(c.LRSUDPAddr) {
			us := lrs.NewUDP(c.LRSUDPAddr, reports, log.With("component", "lrs-udp"))
			if err := us.Listen(); err != nil {
				return err
			}
			addrs.LRSUDP = us.LocalAddr().String()
			g.Go(func() error { return us.Serve(gctx) })
		}
		g.Go(func() error { return reports.RunRetention(gctx, time.Hour) })
	}
	if enabled(c.AdminAddr) {
		adminHash, err := adminKeyHash(ctx, st, c.AdminKey, logw)
		if err != nil {
			return err
		}
		api := admin.NewAPI(st, adminHash, log.With("component", "admin"))
		as := admin.New(admin.Config{Addr: c.AdminAddr, Metrics: set, Readiness: &readiness{store: st, feeds: feeds, book: book}, Logger: log, Extra: api.Register})
		if err := as.Listen(); err != nil {
			return err
		}
		addrs.Admin = as.Addr().String()
		g.Go(func() error { return as.Serve(gctx) })
	}
	g.Go(func() error { return keyTable.Run(gctx, 250*time.Millisecond) })
	g.Go(func() error { return watchTiers(gctx, st, keyTable, tiers, limiter, log) })
	g.Go(func() error { feeds.sampleRates(gctx); return nil })
	if c.Feeds == "live" && len(runners) > 0 {
		g.Go(func() error { feeds.warnUnreachable(gctx, log, 15*time.Second); return nil })
	}

	log.Info("trinity serving", "version", Version, "http", addrs.HTTP, "udp", addrs.UDP, "lrs", addrs.LRS, "lrs_udp", addrs.LRSUDP, "admin", addrs.Admin,
		"feeds", c.Feeds, "exchanges", len(runners), "assets", len(universe.Assets), "db", redactDSN(c.DB), "role", c.Role)
	if c.Ready != nil {
		c.Ready(addrs)
	}
	err = g.Wait()
	if simSrv != nil {
		simSrv.Close()
	}
	log.Info("trinity stopped")
	if err != nil && !errors.Is(err, context.Canceled) {
		return err
	}
	return nil
}

// loadTiers replaces the tier table with the store's tiers.
func loadTiers(ctx context.Context, st store.Store, tiers *limits.TierTable) error {
	ts, err := st.Tiers(ctx)
	if err != nil {
		return fmt.Errorf("load tiers: %w", err)
	}
	m := make(map[string]limits.Tier, len(ts))
	for _, t := range ts {
		m[t.Name] = t
	}
	tiers.Set(m)
	return nil
}

// syncQuotas raises each key's local quota count to the stored total of the current month,
// so a restarted instance continues from what was metered, and instances sharing a store
// see each other's usage (see docs/limits.md for the resulting error bound).
func syncQuotas(ctx context.Context, st store.Store, lim *limits.Limiter) error {
	month := limits.MonthOf(time.Now())
	used, err := st.MonthUsage(ctx, month)
	if err != nil {
		return fmt.Errorf("load quota usage: %w", err)
	}
	for id, n := range used {
		if m, local := lim.Usage(id); m < month || local < n {
			lim.SetUsed(id, month, n)
		}
	}
	return nil
}

// watchTiers reloads tiers when the keys version moves (tier edits bump it) and re-syncs
// quota counts every 10 s.
func watchTiers(ctx context.Context, st store.Store, keyTable *keys.Table, tiers *limits.TierTable, lim *limits.Limiter, log *slog.Logger) error {
	version := keyTable.Version()
	tick := time.NewTicker(500 * time.Millisecond)
	defer tick.Stop()
	lastSync := time.Now()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
		}
		if v := keyTable.Version(); v != version {
			if err := loadTiers(ctx, st, tiers); err != nil {
				log.Warn("reload tiers", "err", err)
				continue
			}
			version = v
		}
		if time.Since(lastSync) >= 10*time.Second {
			if err := syncQuotas(ctx, st, lim); err != nil && ctx.Err() == nil {
				log.Warn("sync quotas", "err", err)
			}
			lastSync = time.Now()
		}
	}
}

// adminKeyHash returns the SHA-256 of the admin key. A key given with --admin-key becomes
// the stored one. Without it the stored hash is used; on the very first start none is stored,
// so one key is generated, printed once to w, and only its hash is kept (when several
// instances start at once, exactly one generates it; the others use the stored hash).
func adminKeyHash(ctx context.Context, st store.Store, given string, w io.Writer) ([32]byte, error) {
	if given != "" {
		h := sha256.Sum256([]byte(given))
		if err := st.SetAdminKeyHash(ctx, h); err != nil {
			return h, fmt.Errorf("store admin key: %w", err)
		}
		return h, nil
	}
	if h, ok, err := st.AdminKeyHash(ctx); err != nil || ok {
		if err != nil {
			return h, fmt.Errorf("read admin key: %w", err)
		}
		return h, nil
	}
	var secret [32]byte
	if _, err := crand.Read(secret[:]); err != nil {
		return [32]byte{}, fmt.Errorf("generate admin key: %w", err)
	}
	plain := "tb_admin_" + base64.RawURLEncoding.EncodeToString(secret[:])
	h, created, err := st.InitAdminKeyHash(ctx, sha256.Sum256([]byte(plain)))
	if err != nil {
		return h, fmt.Errorf("store admin key: %w", err)
	}
	if created {
		fmt.Fprintf(w, "\n  Admin key (shown once; only its hash is stored): %s\n  Use it as X-Admin-Key on the admin listener; replace it any time with --admin-key.\n\n", plain)
	}
	return h, nil
}

// redactDSN hides a password in a postgres URL for logging.
func redactDSN(dsn string) string {
	if i := strings.Index(dsn, "://"); i >= 0 {
		if j := strings.Index(dsn[i+3:], "@"); j >= 0 {
			cred := dsn[i+3 : i+3+j]
			if k := strings.Index(cred, ":"); k >= 0 {
				return dsn[:i+3] + cred[:k] + ":xxxxx" + dsn[i+3+j:]
			}
		}
	}
	return dsn
}

// feedStatus serves the feeds' state to GET /exchanges, readiness and the startup warning.
type feedStatus struct {
	runners []*feed.Runner
	rest    *fallback.Fallback // nil without feeds
	live    bool
	mu      sync.Mutex
	cached  []byte
	at      time.Time
	// rates are each runner's messages per second over the last sampling second.
	rates    []float64
	lastMsgs []uint64
	lastAt   time.Time
}

// sampleRates updates the messages-per-second figures every second until ctx is done.
func (f *feedStatus) sampleRates(ctx context.Context) {
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		now := time.Now()
		f.mu.Lock()
		if f.rates == nil {
			f.rates, f.lastMsgs = make([]float64, len(f.runners)), make([]uint64, len(f.runners))
		}
		dt := now.Sub(f.lastAt).Seconds()
		for i, r := range f.runners {
			m := r.Status().Messages
			if !f.lastAt.IsZero() && dt > 0 {
				f.rates[i] = float64(m-f.lastMsgs[i]) / dt
			}
			f.lastMsgs[i] = m
		}
		f.lastAt = now
		f.mu.Unlock()
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

type exchangeJSON struct {
	Exchange          string  `json:"exchange"`
	Connected         bool    `json:"connected"`
	Connections       int     `json:"connections"`
	ConnectionsUp     int     `json:"connections_up"`
	Symbols           int     `json:"symbols"`
	LastMessageAge    float64 `json:"last_message_age_seconds"`
	Messages          uint64  `json:"messages"`
	MessagesPerSecond float64 `json:"messages_per_second"`
	Ticks             uint64  `json:"ticks"`
	Reconnects        uint64  `json:"reconnects"`
	DecodeErrors      uint64  `json:"decode_errors"`
	LastError         string  `json:"last_error,omitempty"`
	URL               string  `json:"url"`
	// RESTFallbacks counts the REST ticker requests the fallback made to the exchange, and
	// RESTErrors those that failed.
	RESTFallbacks uint64 `json:"rest_fallbacks"`
	RESTErrors    uint64 `json:"rest_errors"`
}

// ExchangesJSON returns the GET /exchanges body, rebuilt at most every 100 ms.
func (f *feedStatus) ExchangesJSON() []byte {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.cached != nil && time.Since(f.at) < 100*time.Millisecond {
		return f.cached
	}
	out := struct {
		Exchanges []exchangeJSON `json:"exchanges"`
	}{Exchanges: []exchangeJSON{}}
	now := time.Now()
	for i, r := range f.runners {
		s := r.Status()
		rate := 0.0
		if i < len(f.rates) {
			rate = f.rates[i]
		}
		age := -1.0
		if !s.LastMessage.IsZero() {
			age = now.Sub(s.LastMessage).Seconds()
		}
		var restReq, restErr uint64
		if ex, ok := price.ExchangeByName(s.Exchange); ok && f.rest != nil {
			restReq, restErr = f.rest.Stats(ex)
		}
		out.Exchanges = append(out.Exchanges, exchangeJSON{
			Exchange: s.Exchange, Connected: s.Connected, Connections: s.Connections, ConnectionsUp: s.ConnectionsUp,
			Symbols: s.Symbols, LastMessageAge: age, Messages: s.Messages, Ticks: s.Ticks, Reconnects: s.Reconnects,
			DecodeErrors: s.DecodeErrors, LastError: s.LastError, URL: s.URL, RESTFallbacks: restReq, RESTErrors: restErr,
			MessagesPerSecond: math.Round(rate*10) / 10,
		})
	}
	b, _ := json.Marshal(out)
	f.cached, f.at = append(b, '\n'), now
	return f.cached
}

// connected returns how many exchanges have at least one connection up.
func (f *feedStatus) connected() int {
	n := 0
	for _, r := range f.runners {
		if r.Status().ConnectionsUp > 0 {
			n++
		}
	}
	return n
}

// warnUnreachable logs plainly, once, when no live exchange could be reached after wait.
func (f *feedStatus) warnUnreachable(ctx context.Context, log *slog.Logger, wait time.Duration) {
	select {
	case <-ctx.Done():
		return
	case <-time.After(wait):
	}
	if f.connected() > 0 {
		return
	}
	var errs []string
	for _, r := range f.runners {
		s := r.Status()
		if s.LastError != "" {
			errs = append(errs, s.Exchange+": "+s.LastError)
		}
	}
	log.Warn("no exchange is reachable: prices cannot be served. Without internet access, run with --feeds sim to use the built-in simulated exchanges",
		"waited", wait, "errors", strings.Join(errs, "; "))
}

// readiness: the store answers, and at least one feed has delivered recently.
type readiness struct {
	store interface{ Ping(context.Context) error }
	feeds *feedStatus
	book  *price.Book
}

func (r *readiness) Ready(ctx context.Context) []admin.Check {
	var checks []admin.Check
	if err := r.store.Ping(ctx); err != nil {
		checks = append(checks, admin.Check{Name: "store", OK: false, Detail: err.Error()})
	} else {
		checks = append(checks, admin.Check{Name: "store", OK: true})
	}
	if len(r.feeds.runners) > 0 {
		priced := 0
		for i := 0; i < r.book.Len(); i++ {
			if a := r.book.Answer(i); a != nil && !a.Stale {
				priced++
			}
		}
		up := r.feeds.connected()
		c := admin.Check{Name: "feeds", OK: up > 0 && priced > 0,
			Detail: fmt.Sprintf("%d of %d exchanges connected; %d of %d assets have a fresh price", up, len(r.feeds.runners), priced, r.book.Len())}
		if up == 0 && r.feeds.live {
			c.Detail += "; no exchange is reachable — without internet access run with --feeds sim"
		}
		checks = append(checks, c)
	}
	return checks
}
