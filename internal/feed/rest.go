package feed

import "github.com/trinityprice/trinity/internal/price"

// RESTTicker is implemented by an adapter's Protocol when the exchange has a public REST
// ticker endpoint. The REST fallback uses it to price an asset that has no fresh WebSocket
// source.
type RESTTicker interface {
	// DefaultRESTURL is the exchange's REST base URL, e.g. "https://api.kraken.com"; the
	// --<exchange>-rest-url flag replaces it.
	DefaultRESTURL() string
	// TickerPath returns the path and query of the ticker request for one symbol, relative
	// to the base URL, e.g. "/0/public/Ticker?pair=BTCUSD".
	TickerPath(symbol string) string
	// ParseTicker decodes a ticker response body for symbol into t: Last, Bid, Ask and
	// ExchangeTime where the response has them (numbers parsed exactly with price.ParseValue).
	// It returns an error for an error response or a body of the wrong shape.
	ParseTicker(symbol string, body []byte, t *price.Tick) error
}
