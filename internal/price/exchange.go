package price

import "time"

// Exchange identifies one of the supported exchanges. Its zero value is not an exchange.
type Exchange uint8

// The supported exchanges, in the order Trinity lists them.
const (
	Coinbase Exchange = iota + 1
	Kraken
	Gemini
	Gateio
	OKX
	Cryptocom
	Bybit
)

// NumExchanges is one more than the largest Exchange, for arrays indexed by Exchange.
const NumExchanges = int(Bybit) + 1

var exchangeNames = [NumExchanges]string{"", "coinbase", "kraken", "gemini", "gateio", "okx", "cryptocom", "bybit"}

// Exchanges returns every supported exchange in order.
func Exchanges() []Exchange {
	return []Exchange{Coinbase, Kraken, Gemini, Gateio, OKX, Cryptocom, Bybit}
}

// String returns the exchange's name as used in flags, URLs and answers ("okx").
func (e Exchange) String() string {
	if int(e) < NumExchanges {
		return exchangeNames[e]
	}
	return "unknown"
}

// ExchangeByName returns the exchange called name (lower case), or false.
func ExchangeByName(name string) (Exchange, bool) {
	for i := 1; i < NumExchanges; i++ {
		if exchangeNames[i] == name {
			return Exchange(i), true
		}
	}
	return 0, false
}

// Quote is the currency a market is quoted in. Trinity answers in USD and converts USDT and
// USDC quotes with the live USDT/USD and USDC/USD rates.
type Quote uint8

// The quote currencies Trinity accepts.
const (
	USD Quote = iota + 1
	USDT
	USDC
)

// String returns the currency code.
func (q Quote) String() string {
	switch q {
	case USD:
		return "USD"
	case USDT:
		return "USDT"
	case USDC:
		return "USDC"
	}
	return "unknown"
}

// Tick is one normalised market update from an exchange. Zero prices are unknown (a ticker
// without a trade yet, a book update without the other side); a tick updates only what it
// knows and leaves the other fields as they were.
type Tick struct {
	Exchange Exchange
	// Symbol is the exchange's own market symbol ("BTC-USD", "BTC/USD", "btcusd", ...), exactly
	// as it appears in the asset map.
	Symbol string
	Last   Value
	Bid    Value
	Ask    Value
	// ExchangeTime is the exchange's own timestamp for the update, in Unix nanoseconds; 0 when
	// the message carries none.
	ExchangeTime int64
	// Received is when the frame carrying the update was read, in Unix nanoseconds.
	Received int64
}

// Sink receives ticks. Apply must be safe for concurrent use and must not retain t.
type Sink interface {
	Apply(t *Tick)
}

// NowNanos returns the current time in Unix nanoseconds.
func NowNanos() int64 { return time.Now().UnixNano() }
