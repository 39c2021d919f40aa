package cli

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"text/tabwriter"
	"time"

	"github.com/trinityprice/trinity/internal/keys"
	"github.com/trinityprice/trinity/internal/store"
)

const keysUsage = `usage:
  trinity keys create --tier TIER [--name NAME] [--quota N] [--json] [--db DSN]
  trinity keys list [--json] [--db DSN]
  trinity keys revoke [--db DSN] ID|PREFIX
tiers: free, pro, enterprise, unlimited, lifetime, partner
`

func runKeys(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, keysUsage)
		return fmt.Errorf("%w: keys needs a subcommand", errUsage)
	}
	fs := flag.NewFlagSet("keys "+args[0], flag.ContinueOnError)
	fs.SetOutput(stderr)
	db := fs.String("db", "sqlite:./trinity-data/trinity.db", "store: sqlite:PATH or postgres://…")
	asJSON := fs.Bool("json", false, "print JSON")
	var tier, name *string
	var quota *int64
	if args[0] == "create" {
		tier = fs.String("tier", "", "tier of the key (required)")
		name = fs.String("name", "", "a label for the key")
		quota = fs.Int64("quota", 0, "monthly quota overriding the tier's (0: the tier's)")
	}
	if err := parseFlags(fs, args[1:], getenv); err != nil {
		return err
	}
	open := func() (store.Store, error) {
		st, err := store.Open(ctx, *db, slog.New(slog.DiscardHandler))
		if err != nil {
			return nil, fmt.Errorf("open store: %w", err)
		}
		return st, nil
	}
	switch args[0] {
	case "create":
		if !keys.ValidTier(*tier) {
			return fmt.Errorf("%w: --tier %q: want free, pro, enterprise, unlimited, lifetime or partner", errUsage, *tier)
		}
		if *quota < 0 {
			return fmt.Errorf("%w: --quota must be >= 0", errUsage)
		}
		st, err := open()
		if err != nil {
			return err
		}
		defer st.Close()
		plain, k, err := keys.New(*tier, *name, *quota, time.Now())
		if err != nil {
			return err
		}
		if err := st.CreateKey(ctx, k); err != nil {
			return fmt.Errorf("create key: %w", err)
		}
		if *asJSON {
			return json.NewEncoder(stdout).Encode(struct {
				Key string `json:"key"`
				keyJSON
			}{plain, toJSON(k)})
		}
		fmt.Fprintln(stdout, plain)
		return nil
	case "list":
		st, err := open()
		if err != nil {
			return err
		}
		defer st.Close()
		ks, err := st.ListKeys(ctx)
		if err != nil {
			return fmt.Errorf("list keys: %w", err)
		}
		if *asJSON {
			out := []keyJSON{}
			for _, k := range ks {
				out = append(out, toJSON(k))
			}
			return json.NewEncoder(stdout).Encode(out)
		}
		tw := tabwriter.NewWriter(stdout, 2, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "ID\tPREFIX\tTIER\tQUOTA\tSTATE\tCREATED\tNAME")
		for _, k := range ks {
			state := "active"
			if k.Revoked {
				state = "revoked"
			}
			q := "tier"
			if k.Quota > 0 {
				q = fmt.Sprint(k.Quota)
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", k.ID, k.Prefix, k.Tier, q, state, k.CreatedAt.UTC().Format(time.RFC3339), k.Name)
		}
		return tw.Flush()
	case "revoke":
		if fs.NArg() != 1 {
			return fmt.Errorf("%w: keys revoke takes one key ID or prefix", errUsage)
		}
		st, err := open()
		if err != nil {
			return err
		}
		defer st.Close()
		k, err := st.RevokeKey(ctx, fs.Arg(0))
		if err != nil {
			return fmt.Errorf("revoke %s: %w", fs.Arg(0), err)
		}
		fmt.Fprintf(stdout, "revoked %s (%s)\n", k.ID, k.Prefix)
		return nil
	}
	fmt.Fprint(stderr, keysUsage)
	return fmt.Errorf("%w: unknown keys subcommand %q", errUsage, args[0])
}

type keyJSON struct {
	ID        string    `json:"id"`
	Prefix    string    `json:"prefix"`
	Name      string    `json:"name"`
	Tier      string    `json:"tier"`
	Quota     int64     `json:"quota"`
	Revoked   bool      `json:"revoked"`
	CreatedAt time.Time `json:"created_at"`
}

func toJSON(k keys.Key) keyJSON {
	return keyJSON{ID: k.ID, Prefix: k.Prefix, Name: k.Name, Tier: k.Tier, Quota: k.Quota, Revoked: k.Revoked, CreatedAt: k.CreatedAt}
}
