package mediatype

import "sort"

// Extensions are the file extensions of a media type (without parameters,
// lower case), the usual one first; nil for a type without one. The slice is
// shared: do not change it.
func Extensions(base string) []string { return extensions[base] }

// Types lists every media type with known extensions, sorted.
func Types() []string {
	types := make([]string, 0, len(extensions))
	for t := range extensions {
		types = append(types, t)
	}
	sort.Strings(types)
	return types
}

var extensions = map[string][]string{
	"application/ogg":               {"ogg"},
	"application/pdf":               {"pdf"},
	"application/postscript":        {"ps"},
	"application/vnd.ms-fontobject": {"eot"},
	"application/wasm":              {"wasm"},
	"application/x-gzip":            {"gz"},
	"application/x-rar-compressed":  {"rar"},
	"application/zip":               {"zip"},
	"application/octet-stream":      {"bin"},
	"audio/aiff":                    {"aif", "aiff"},
	"audio/basic":                   {"au", "snd"},
	"audio/midi":                    {"mid", "midi"},
	"audio/mpeg":                    {"mp3"},
	"audio/wave":                    {"wav"},
	"font/collection":               {"ttc"},
	"font/otf":                      {"otf"},
	"font/ttf":                      {"ttf"},
	"font/woff":                     {"woff"},
	"font/woff2":                    {"woff2"},
	"image/bmp":                     {"bmp"},
	"image/gif":                     {"gif"},
	"image/jpeg":                    {"jpg", "jpeg"},
	"image/png":                     {"png"},
	"image/vnd.microsoft.icon":      {"ico"},
	"image/webp":                    {"webp"},
	"image/x-icon":                  {"ico"},
	"text/html":                     {"html", "htm"},
	"text/plain":                    {"txt"},
	"text/xml":                      {"xml"},
	"video/avi":                     {"avi"},
	"video/mp4":                     {"mp4"},
	"video/webm":                    {"webm"},
}
