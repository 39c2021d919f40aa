package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/trinityprice/trinity/internal/admin"
	"github.com/trinityprice/trinity/internal/keys"
	"github.com/trinityprice/trinity/internal/store"
)

const keysUsage = `usage:
  trinity keys create --tier TIER [--name NAME] [--quota N] [--json]
  trinity keys list [--json]
  trinity keys revoke ID|PREFIX
  trinity keys tier ID|PREFIX TIER
  trinity keys quota ID|PREFIX N          (0: the tier's quota)
Every subcommand works on the store directly (--db DSN, default the embedded SQLite file) or,
with --admin-url http://127.0.0.1:9091 and --admin-key KEY, through a running server's admin API.
tiers: free, pro, enterprise, unlimited, lifetime, partner
`

// keyOps is what the keys subcommands need, from the store or from the admin API.
type keyOps interface {
	create(ctx context.Context, tier, name string, quota int64) (plain string, k admin.KeyJSON, err error)
	list(ctx context.Context) ([]admin.KeyJSON, error)
	revoke(ctx context.Context, id string) (admin.KeyJSON, error)
	setTier(ctx context.Context, id, tier string) (admin.KeyJSON, error)
	setQuota(ctx context.Context, id string, quota int64) (admin.KeyJSON, error)
	close()
}

func runKeys(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, keysUsage)
		return fmt.Errorf("%w: keys needs a subcommand", errUsage)
	}
	sub := args[0]
	fs := flag.NewFlagSet("keys "+sub, flag.ContinueOnError)
	fs.SetOutput(stderr)
	db := fs.String("db", "sqlite:./trinity-data/trinity.db", "store: sqlite:PATH or postgres://…")
	adminURL := fs.String("admin-url", "", "use a running server's admin API instead of the store, e.g. http://127.0.0.1:9091")
	adminKey := fs.String("admin-key", "", "admin key for --admin-url")
	asJSON := fs.Bool("json", false, "print JSON")
	tier := fs.String("tier", "", "tier of the new key (create)")
	name := fs.String("name", "", "a label for the new key (create)")
	quota := fs.Int64("quota", 0, "monthly quota overriding the tier's, 0: the tier's (create)")
	pos, err := parseInterspersed(fs, args[1:], getenv)
	if err != nil {
		return err
	}
	want := map[string]int{"create": 0, "list": 0, "revoke": 1, "tier": 2, "quota": 2}
	n, ok := want[sub]
	if !ok {
		fmt.Fprint(stderr, keysUsage)
		return fmt.Errorf("%w: unknown keys subcommand %q", errUsage, sub)
	}
	if len(pos) != n {
		fmt.Fprint(stderr, keysUsage)
		return fmt.Errorf("%w: keys %s takes %d argument(s)", errUsage, sub, n)
	}
	if sub == "create" && !keys.ValidTier(*tier) {
		return fmt.Errorf("%w: --tier %q: want free, pro, enterprise, unlimited, lifetime or partner", errUsage, *tier)
	}
	if *quota < 0 {
		return fmt.Errorf("%w: --quota must be >= 0", errUsage)
	}
	var ops keyOps
	if *adminURL != "" {
		ops = &apiOps{base: strings.TrimRight(*adminURL, "/"), key: *adminKey, client: &http.Client{Timeout: 10 * time.Second}}
	} else {
		st, err := store.Open(ctx, *db, slog.New(slog.DiscardHandler))
		if err != nil {
			return fmt.Errorf("open store: %w", err)
		}
		ops = &storeOps{st: st}
	}
	defer ops.close()

	var k admin.KeyJSON
	switch sub {
	case "create":
		var plain string
		if plain, k, err = ops.create(ctx, *tier, *name, *quota); err != nil {
			return fmt.Errorf("create key: %w", err)
		}
		if *asJSON {
			return json.NewEncoder(stdout).Encode(struct {
				Key string `json:"key"`
				admin.KeyJSON
			}{plain, k})
		}
		fmt.Fprintln(stdout, plain)
		return nil
	case "list":
		ks, err := ops.list(ctx)
		if err != nil {
			return fmt.Errorf("list keys: %w", err)
		}
		if *asJSON {
			return json.NewEncoder(stdout).Encode(ks)
		}
		tw := tabwriter.NewWriter(stdout, 2, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "ID\tPREFIX\tTIER\tQUOTA\tSTATE\tCREATED\tNAME")
		for _, k := range ks {
			state, q := "active", "tier"
			if k.Revoked {
				state = "revoked"
			}
			if k.Quota > 0 {
				q = strconv.FormatInt(k.Quota, 10)
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", k.ID, k.Prefix, k.Tier, q, state, k.CreatedAt.UTC().Format(time.RFC3339), k.Name)
		}
		return tw.Flush()
	case "revoke":
		k, err = ops.revoke(ctx, pos[0])
	case "tier":
		k, err = ops.setTier(ctx, pos[0], pos[1])
	case "quota":
		q, perr := strconv.ParseInt(pos[1], 10, 64)
		if perr != nil || q < 0 {
			return fmt.Errorf("%w: quota %q: want a number >= 0", errUsage, pos[1])
		}
		k, err = ops.setQuota(ctx, pos[0], q)
	}
	if err != nil {
		return fmt.Errorf("%s %s: %w", sub, pos[0], err)
	}
	if *asJSON {
		return json.NewEncoder(stdout).Encode(k)
	}
	state := "active"
	if k.Revoked {
		state = "revoked"
	}
	fmt.Fprintf(stdout, "%s %s: tier %s, quota %d, %s\n", k.ID, k.Prefix, k.Tier, k.Quota, state)
	return nil
}

// storeOps works on the store directly (the server sees changes within 250 ms).
type storeOps struct{ st store.Store }

func (o *storeOps) create(ctx context.Context, tier, name string, quota int64) (string, admin.KeyJSON, error) {
	plain, k, err := keys.New(tier, name, quota, time.Now())
	if err != nil {
		return "", admin.KeyJSON{}, err
	}
	if err := o.st.CreateKey(ctx, k); err != nil {
		return "", admin.KeyJSON{}, err
	}
	return plain, admin.KeyToJSON(k), nil
}

func (o *storeOps) list(ctx context.Context) ([]admin.KeyJSON, error) {
	ks, err := o.st.ListKeys(ctx)
	out := []admin.KeyJSON{}
	for _, k := range ks {
		out = append(out, admin.KeyToJSON(k))
	}
	return out, err
}

func (o *storeOps) revoke(ctx context.Context, id string) (admin.KeyJSON, error) {
	k, err := o.st.RevokeKey(ctx, id)
	return admin.KeyToJSON(k), err
}

func (o *storeOps) setTier(ctx context.Context, id, tier string) (admin.KeyJSON, error) {
	k, err := o.st.SetKeyTier(ctx, id, tier)
	return admin.KeyToJSON(k), err
}

func (o *storeOps) setQuota(ctx context.Context, id string, q int64) (admin.KeyJSON, error) {
	k, err := o.st.SetKeyQuota(ctx, id, q)
	return admin.KeyToJSON(k), err
}

func (o *storeOps) close() { o.st.Close() }

// apiOps works through a server's admin API.
type apiOps struct {
	base, key string
	client    *http.Client
}

func (o *apiOps) do(ctx context.Context, method, path string, body, out any) error {
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, o.base+path, rd)
	if err != nil {
		return err
	}
	req.Header.Set("X-Admin-Key", o.key)
	resp, err := o.client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode >= 300 {
		var e struct {
			Error struct{ Code, Message string }
		}
		_ = json.NewDecoder(resp.Body).Decode(&e)
		return errors.New(resp.Status + ": " + e.Error.Code + ": " + e.Error.Message)
	}
	return json.NewDecoder(resp.Body).Decode(out)
}

func (o *apiOps) create(ctx context.Context, tier, name string, quota int64) (string, admin.KeyJSON, error) {
	var out struct {
		Key string `json:"key"`
		admin.KeyJSON
	}
	err := o.do(ctx, "POST", "/admin/keys", map[string]any{"tier": tier, "name": name, "quota": quota}, &out)
	return out.Key, out.KeyJSON, err
}

func (o *apiOps) list(ctx context.Context) ([]admin.KeyJSON, error) {
	var out struct {
		Keys []admin.KeyJSON `json:"keys"`
	}
	err := o.do(ctx, "GET", "/admin/keys", nil, &out)
	return out.Keys, err
}

func (o *apiOps) revoke(ctx context.Context, id string) (admin.KeyJSON, error) {
	var k admin.KeyJSON
	err := o.do(ctx, "POST", "/admin/keys/"+id+"/revoke", nil, &k)
	return k, err
}

func (o *apiOps) setTier(ctx context.Context, id, tier string) (admin.KeyJSON, error) {
	var k admin.KeyJSON
	err := o.do(ctx, "PATCH", "/admin/keys/"+id, map[string]any{"tier": tier}, &k)
	return k, err
}

func (o *apiOps) setQuota(ctx context.Context, id string, q int64) (admin.KeyJSON, error) {
	var k admin.KeyJSON
	err := o.do(ctx, "PATCH", "/admin/keys/"+id, map[string]any{"quota": q}, &k)
	return k, err
}

func (o *apiOps) close() {}
