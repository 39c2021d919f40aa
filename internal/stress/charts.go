package stress

import (
	"bytes"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strconv"

	"github.com/trinityprice/trinity/internal/stress/chart"
)

// WriteCharts writes PNG charts of r into dir (created if needed) and returns the files it
// wrote: for runs of several phases (ladders) rps-per-level.png and latency-per-level.png;
// for every run with at least two whole seconds rps-over-time.png and p99-over-time.png.
func WriteCharts(dir string, r *Result) ([]string, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	var files []string
	write := func(name string, c *chart.Chart) error {
		var b bytes.Buffer
		if err := c.WritePNG(&b); err != nil {
			return fmt.Errorf("draw %s: %w", name, err)
		}
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, b.Bytes(), 0o644); err != nil {
			return err
		}
		files = append(files, path)
		return nil
	}
	if len(r.Phases) > 1 {
		var cats []string
		var rps, p50, p99 []float64
		for _, ph := range r.Phases {
			cats = append(cats, strconv.Itoa(ph.Concurrency))
			rps = append(rps, ph.RPS())
			p50 = append(p50, ms(ph.Total.Hist.Quantile(0.5)))
			p99 = append(p99, ms(ph.Total.Hist.Quantile(0.99)))
		}
		if err := write("rps-per-level.png", &chart.Chart{Title: "Requests per second per level", XTitle: "concurrency",
			YTitle: "req/s", Categories: cats, Bars: true,
			Series: []chart.Series{{Name: "rps", Values: rps, Color: chart.Palette[0]}}}); err != nil {
			return files, err
		}
		if err := write("latency-per-level.png", &chart.Chart{Title: "Latency per level", XTitle: "concurrency",
			YTitle: "ms", Categories: cats, Bars: true,
			Series: []chart.Series{{Name: "p50", Values: p50, Color: chart.Palette[2]}, {Name: "p99", Values: p99, Color: chart.Palette[3]}}}); err != nil {
			return files, err
		}
	}
	if len(r.Timeline) >= 2 {
		var xs, tot, p99 []float64
		per := map[Protocol][]float64{} // only for mixes: the protocols that appear
		for _, t := range r.Timeline {
			for p := range t.Protocols {
				per[p] = nil
			}
		}
		for _, t := range r.Timeline {
			xs = append(xs, float64(t.Second))
			tot = append(tot, t.RPS)
			p99 = append(p99, t.P99MS)
			for p := range per {
				v := math.NaN()
				if ps, ok := t.Protocols[p]; ok {
					v = ps.RPS
				}
				per[p] = append(per[p], v)
			}
		}
		series := []chart.Series{{Name: "total", Values: tot, Color: chart.Palette[0]}}
		for i, p := range sortedProtocols(per) {
			series = append(series, chart.Series{Name: string(p), Values: per[p], Color: chart.Palette[(i+1)%len(chart.Palette)]})
		}
		if err := write("rps-over-time.png", &chart.Chart{Title: "Requests per second", XTitle: "seconds",
			YTitle: "req/s", X: xs, Series: series}); err != nil {
			return files, err
		}
		if err := write("p99-over-time.png", &chart.Chart{Title: "p99 latency per second", XTitle: "seconds",
			YTitle: "ms", X: xs, Series: []chart.Series{{Name: "p99", Values: p99, Color: chart.Palette[3]}}}); err != nil {
			return files, err
		}
	}
	return files, nil
}
