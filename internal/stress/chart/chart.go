// Package chart draws simple line and bar charts as PNG images with only the standard
// library: axes, tick labels and a legend in a built-in 5×7 bitmap font. It is meant for the
// load client's reports (RPS and latency per level or over time), not for general plotting.
package chart

import (
	"image"
	"image/color"
	"image/png"
	"io"
	"math"
	"strconv"
	"unicode"
)

// Series is one line (or one set of bars) of a chart.
type Series struct {
	Name   string
	Values []float64 // one per X position; NaN leaves a gap
	Color  color.RGBA
}

// Chart describes a chart. With Categories set, the X axis shows one slot per category and
// Bars draws bars (else lines through the slot centres); otherwise X holds the numeric X
// value of each point.
type Chart struct {
	Title      string
	XTitle     string
	YTitle     string
	Categories []string
	X          []float64
	Series     []Series
	Bars       bool
	Width      int // default 960
	Height     int // default 540
}

// Palette has distinct colours for up to six series.
var Palette = []color.RGBA{
	{31, 119, 180, 255}, {255, 127, 14, 255}, {44, 160, 44, 255},
	{214, 39, 40, 255}, {148, 103, 189, 255}, {140, 86, 75, 255},
}

var (
	white = color.RGBA{255, 255, 255, 255}
	black = color.RGBA{0, 0, 0, 255}
	grey  = color.RGBA{225, 225, 225, 255}
)

const (
	scale   = 2 // font pixels per bitmap pixel
	charW   = 6 * scale
	charH   = 7 * scale
	mLeft   = 100
	mRight  = 30
	mTop    = 50
	mBottom = 70
)

// WritePNG renders the chart.
func (c *Chart) WritePNG(w io.Writer) error {
	W, H := c.Width, c.Height
	if W == 0 {
		W = 960
	}
	if H == 0 {
		H = 540
	}
	img := image.NewRGBA(image.Rect(0, 0, W, H))
	fill(img, 0, 0, W, H, white)
	x0, y0, x1, y1 := mLeft, mTop, W-mRight, H-mBottom // plot area

	// Y range: 0 to a nice maximum.
	ymax := 0.0
	n := 0
	for _, s := range c.Series {
		for _, v := range s.Values {
			if !math.IsNaN(v) {
				ymax = max(ymax, v)
			}
		}
		n = max(n, len(s.Values))
	}
	step := niceStep(ymax / 5)
	top := step * math.Ceil(ymax/step)
	if top == 0 {
		top, step = 1, 0.2
	}
	yPix := func(v float64) int { return y1 - int(math.Round(v/top*float64(y1-y0))) }
	for v := 0.0; v <= top*1.0001; v += step {
		y := yPix(v)
		hline(img, x0, x1, y, grey)
		lbl := compact(v)
		text(img, x0-8-len(lbl)*charW, y-charH/2, lbl, black)
	}

	// X positions.
	var xPix func(i int) int
	if len(c.Categories) > 0 {
		n = max(n, len(c.Categories))
		slot := float64(x1-x0) / float64(max(n, 1))
		xPix = func(i int) int { return x0 + int(slot*(float64(i)+0.5)) }
		every := 1 + (len(c.Categories)*charW*6)/(x1-x0) // thin out labels that would overlap
		for i, l := range c.Categories {
			if i%every == 0 {
				text(img, xPix(i)-len(l)*charW/2, y1+8, l, black)
			}
		}
	} else {
		xmin, xmax := 0.0, 1.0
		if len(c.X) > 0 {
			xmin, xmax = c.X[0], c.X[len(c.X)-1]
			if xmax <= xmin {
				xmax = xmin + 1
			}
		}
		xPix = func(i int) int {
			if i >= len(c.X) {
				return x1
			}
			return x0 + int(math.Round((c.X[i]-xmin)/(xmax-xmin)*float64(x1-x0)))
		}
		xs := niceStep((xmax - xmin) / 8)
		for v := math.Ceil(xmin/xs) * xs; v <= xmax*1.0001; v += xs {
			x := x0 + int(math.Round((v-xmin)/(xmax-xmin)*float64(x1-x0)))
			vline(img, x, y1, y1+5, black)
			lbl := compact(v)
			text(img, x-len(lbl)*charW/2, y1+8, lbl, black)
		}
	}

	// Data.
	if c.Bars && len(c.Categories) > 0 {
		slot := float64(x1-x0) / float64(max(n, 1))
		bw := int(slot * 0.8 / float64(max(len(c.Series), 1)))
		for si, s := range c.Series {
			for i, v := range s.Values {
				if math.IsNaN(v) {
					continue
				}
				left := x0 + int(slot*float64(i)+slot*0.1) + si*bw
				fill(img, left, yPix(v), left+max(bw-1, 1), y1, s.Color)
			}
		}
	} else {
		for _, s := range c.Series {
			px, py, have := 0, 0, false
			for i, v := range s.Values {
				if math.IsNaN(v) {
					have = false
					continue
				}
				x, y := xPix(i), yPix(v)
				if have {
					line(img, px, py, x, y, s.Color)
				}
				fill(img, x-2, y-2, x+3, y+3, s.Color)
				px, py, have = x, y, true
			}
		}
	}

	// Axes, titles, legend.
	hline(img, x0, x1, y1, black)
	vline(img, x0, y0, y1, black)
	text(img, (W-len(c.Title)*charW)/2, 14, c.Title, black)
	text(img, (x0+x1-len(c.XTitle)*charW)/2, H-charH-10, c.XTitle, black)
	text(img, 10, y0-charH-8, c.YTitle, black)
	lx := x1 - 10
	for i := len(c.Series) - 1; i >= 0; i-- {
		s := c.Series[i]
		lx -= (len(s.Name)+3)*charW + 10
		fill(img, lx, y0-charH-8, lx+charW*2, y0-8, s.Color)
		text(img, lx+charW*3, y0-charH-8, s.Name, black)
	}
	return png.Encode(w, img)
}

func fill(img *image.RGBA, x0, y0, x1, y1 int, c color.RGBA) {
	r := image.Rect(x0, y0, x1, y1).Intersect(img.Bounds())
	for y := r.Min.Y; y < r.Max.Y; y++ {
		for x := r.Min.X; x < r.Max.X; x++ {
			img.SetRGBA(x, y, c)
		}
	}
}

func hline(img *image.RGBA, x0, x1, y int, c color.RGBA) { fill(img, x0, y, x1+1, y+1, c) }
func vline(img *image.RGBA, x, y0, y1 int, c color.RGBA) { fill(img, x, y0, x+1, y1+1, c) }

// line draws a 2-pixel-wide line (Bresenham).
func line(img *image.RGBA, x0, y0, x1, y1 int, c color.RGBA) {
	dx, dy := abs(x1-x0), -abs(y1-y0)
	sx, sy := sign(x1-x0), sign(y1-y0)
	err := dx + dy
	for {
		fill(img, x0, y0, x0+2, y0+2, c)
		if x0 == x1 && y0 == y1 {
			return
		}
		if e2 := 2 * err; e2 >= dy {
			err += dy
			x0 += sx
		} else {
			err += dx
			y0 += sy
		}
	}
}

func abs(v int) int {
	if v < 0 {
		return -v
	}
	return v
}

func sign(v int) int {
	switch {
	case v < 0:
		return -1
	case v > 0:
		return 1
	}
	return 0
}

// text draws s with its top-left corner at (x, y).
func text(img *image.RGBA, x, y int, s string, c color.RGBA) {
	for _, r := range s {
		g, ok := glyphs[unicode.ToUpper(r)]
		if !ok {
			g = glyphs['-']
		}
		for row := range 7 {
			for col := range 5 {
				if g[row]&(1<<(4-col)) != 0 {
					fill(img, x+col*scale, y+row*scale, x+(col+1)*scale, y+(row+1)*scale, c)
				}
			}
		}
		x += charW
	}
}

// niceStep rounds v up to 1, 2 or 5 times a power of ten.
func niceStep(v float64) float64 {
	if v <= 0 || math.IsNaN(v) || math.IsInf(v, 0) {
		return 1
	}
	p := math.Pow(10, math.Floor(math.Log10(v)))
	for _, m := range []float64{1, 2, 5, 10} {
		if m*p >= v {
			return m * p
		}
	}
	return 10 * p
}

// compact formats a tick value: 0, 0.5, 12, 1.5K, 250K, 1.2M.
func compact(v float64) string {
	a := math.Abs(v)
	switch {
	case a >= 1e6:
		return trim(v/1e6) + "M"
	case a >= 1e4:
		return trim(v/1e3) + "K"
	}
	return trim(v)
}

func trim(v float64) string {
	s := strconv.FormatFloat(v, 'f', 2, 64)
	for s[len(s)-1] == '0' {
		s = s[:len(s)-1]
	}
	if s[len(s)-1] == '.' {
		s = s[:len(s)-1]
	}
	return s
}
