package price

import (
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"sort"
	"strings"
)

//go:embed assets.json
var defaultAssets []byte

// Market is one exchange's market for an asset.
type Market struct {
	Exchange Exchange
	Symbol   string // the exchange's own symbol, e.g. "BTC-USD"
	Quote    Quote  // derived from the symbol's suffix
}

// Asset is one asset of the universe and the markets that price it.
type Asset struct {
	Name    string // upper case, e.g. "BTC"
	Markets []Market
}

// Universe is the set of assets Trinity prices, and where. It is immutable once loaded and
// safe for concurrent use.
type Universe struct {
	Assets []Asset
}

// DefaultUniverse returns the compiled-in asset map (about 150 liquid assets).
func DefaultUniverse() (*Universe, error) {
	return ParseUniverse(defaultAssets)
}

// LoadUniverse reads an asset map file (same format as the compiled-in assets.json).
func LoadUniverse(path string) (*Universe, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read asset map: %w", err)
	}
	u, err := ParseUniverse(b)
	if err != nil {
		return nil, fmt.Errorf("asset map %s: %w", path, err)
	}
	return u, nil
}

// ParseUniverse parses an asset map: a JSON object {"assets": {"BTC": {"coinbase": "BTC-USD",
// "kraken": "BTC/USD", ...}, ...}}. Every symbol must be quoted in USD, USDT or USDC.
func ParseUniverse(b []byte) (*Universe, error) {
	var doc struct {
		Assets map[string]map[string]string `json:"assets"`
	}
	if err := json.Unmarshal(b, &doc); err != nil {
		return nil, fmt.Errorf("parse asset map: %w", err)
	}
	if len(doc.Assets) == 0 {
		return nil, errors.New("asset map lists no assets")
	}
	u := &Universe{}
	for name, markets := range doc.Assets {
		up := strings.ToUpper(strings.TrimSpace(name))
		if up == "" || len(up) > 20 || strings.ContainsAny(up, " \t\"\\/") {
			return nil, fmt.Errorf("asset %q: bad name", name)
		}
		a := Asset{Name: up}
		for exName, sym := range markets {
			ex, ok := ExchangeByName(exName)
			if !ok {
				return nil, fmt.Errorf("asset %s: unknown exchange %q", up, exName)
			}
			q, ok := QuoteOf(sym)
			if !ok {
				return nil, fmt.Errorf("asset %s: %s symbol %q is not quoted in USD, USDT or USDC", up, exName, sym)
			}
			a.Markets = append(a.Markets, Market{Exchange: ex, Symbol: sym, Quote: q})
		}
		sort.Slice(a.Markets, func(i, j int) bool { return a.Markets[i].Exchange < a.Markets[j].Exchange })
		u.Assets = append(u.Assets, a)
	}
	sort.Slice(u.Assets, func(i, j int) bool { return u.Assets[i].Name < u.Assets[j].Name })
	return u, nil
}

// QuoteOf derives the quote currency from an exchange symbol's suffix, in any of the
// exchanges' forms: "BTC-USD", "BTC/USD", "btcusd", "BTC_USDT", "BTCUSDT", "ETH-USDC".
func QuoteOf(symbol string) (Quote, bool) {
	s := strings.ToUpper(symbol)
	switch {
	case strings.HasSuffix(s, "USDT"):
		return USDT, len(s) > 4
	case strings.HasSuffix(s, "USDC"):
		return USDC, len(s) > 4
	case strings.HasSuffix(s, "USD"):
		return USD, len(s) > 3
	}
	return 0, false
}

// Symbols returns the symbols the universe needs from one exchange, sorted.
func (u *Universe) Symbols(ex Exchange) []string {
	var out []string
	for _, a := range u.Assets {
		for _, m := range a.Markets {
			if m.Exchange == ex {
				out = append(out, m.Symbol)
			}
		}
	}
	sort.Strings(out)
	return out
}

// Find returns the asset named name (case-insensitive), or nil.
func (u *Universe) Find(name string) *Asset {
	up := strings.ToUpper(name)
	for i := range u.Assets {
		if u.Assets[i].Name == up {
			return &u.Assets[i]
		}
	}
	return nil
}
