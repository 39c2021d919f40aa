package lrs

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"text/tabwriter"
)

// contentType returns the Content-Type of an answer in format.
func contentType(format string) string {
	switch format {
	case FormatCSV:
		return "text/csv; charset=utf-8; header=present" // RFC 4180 §3
	case FormatTSV:
		return "text/tab-separated-values; charset=utf-8"
	case FormatText:
		return "text/plain; charset=utf-8"
	}
	return "application/json"
}

// render writes rep to buf in format:
//   - json: the report object and a newline;
//   - csv, tsv: a header row, then the rows, quoted as RFC 4180 says (encoding/csv; tsv uses
//     the same rules with a tab as separator);
//   - text: a title line, the table in aligned columns ("-" for an empty cell, "(no rows)"
//     when empty) and, when there is a next page, a last line "next_cursor: <cursor>".
func render(buf *bytes.Buffer, format string, rep report) error {
	switch format {
	case FormatCSV, FormatTSV:
		w := csv.NewWriter(buf)
		if format == FormatTSV {
			w.Comma = '\t'
		}
		if err := w.Write(rep.header()); err != nil {
			return err
		}
		if err := rep.rows(w.Write); err != nil {
			return err
		}
		w.Flush()
		return w.Error()
	case FormatText:
		buf.WriteString(rep.title())
		buf.WriteString("\n\n")
		tw := tabwriter.NewWriter(buf, 0, 0, 2, ' ', 0)
		writeLine := func(cells []string) error {
			for i, c := range cells {
				if i > 0 {
					tw.Write([]byte{'\t'})
				}
				if c == "" {
					c = "-"
				}
				tw.Write([]byte(c))
			}
			_, err := tw.Write([]byte{'\n'})
			return err
		}
		if err := writeLine(rep.header()); err != nil {
			return err
		}
		n := 0
		if err := rep.rows(func(cells []string) error { n++; return writeLine(cells) }); err != nil {
			return err
		}
		if err := tw.Flush(); err != nil {
			return err
		}
		if n == 0 {
			buf.WriteString("(no rows)\n")
		}
		if c := rep.nextCursor(); c != "" {
			buf.WriteString("next_cursor: " + c + "\n")
		}
		return nil
	default:
		enc := json.NewEncoder(buf)
		enc.SetEscapeHTML(false)
		return enc.Encode(rep)
	}
}

// appendJSON appends rep's JSON object, without a trailing newline, to dst.
func appendJSON(dst []byte, rep report) []byte {
	buf := bytes.NewBuffer(dst)
	if err := render(buf, FormatJSON, rep); err != nil { // plain structs of strings and numbers
		panic("BUG: marshal report: " + err.Error())
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte{'\n'})
}
