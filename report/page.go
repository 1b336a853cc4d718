package report

import (
	"bytes"
	"context"
	_ "embed"
	"encoding/json"
	"html/template"
	"strings"

	"github.com/mrrflow/mrrflow/internal/store"
)

// The page's parts, inlined into one file.
var (
	//go:embed assets/echarts.min.js
	echartsJS string
	//go:embed assets/ECHARTS-VERSION
	echartsVersion string
	//go:embed assets/app.js
	appJS string
	//go:embed assets/style.css
	styleCSS string
	//go:embed assets/page.html
	pageHTML string
)

var page = template.Must(template.New("page").Parse(pageHTML))

// Library is the vendored charting library's text, as the page inlines it.
func Library() string { return echartsJS }

// Build reads the data of a warehouse and writes its report page.
func Build(ctx context.Context, w *store.Warehouse, opt Options) ([]byte, *Data, error) {
	d, err := Read(ctx, w, opt)
	if err != nil {
		return nil, nil, err
	}
	html, err := Render(d)
	return html, d, err
}

// Render writes the page of a report's data.
func Render(d *Data) ([]byte, error) {
	data, err := json.Marshal(d)
	if err != nil {
		return nil, err
	}
	var b bytes.Buffer
	err = page.Execute(&b, map[string]any{
		// Inline scripts and JSON: "</" would end the script element.
		"Library": template.JS(noCloseTag(echartsJS)),
		"App":     template.JS(noCloseTag(appJS)),
		"Data":    template.JS(noCloseTag(string(data))),
		"Style":   template.CSS(styleCSS),
		"Version": strings.TrimSpace(echartsVersion),
		"Title":   "Revenue report (" + strings.ToUpper(d.Currency) + ")",
	})
	return b.Bytes(), err
}

// noCloseTag escapes "</" in a script's text, where it would end the
// script element early.
func noCloseTag(s string) string { return strings.ReplaceAll(s, "</", `<\/`) }

func jsonUnmarshal(s string, v any) error { return json.Unmarshal([]byte(s), v) }
