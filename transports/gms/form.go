package gms

import (
	"net/http"
	"net/url"
	"sort"
	"strings"

	"github.com/valyala/fasthttp"

	"github.com/cxgate/cxgate/bus"
)

// Form limits, beside the gateway's body limit.
const (
	maxFields   = 256 // parameters in one request, userData keys included
	maxKeyBytes = 256 // one parameter name
)

// errBadForm rejects a body that is not a form of GMS parameters.
var errBadForm = bus.Reject(http.StatusBadRequest, bus.CodeInvalidRequest,
	"The body must be a form (application/x-www-form-urlencoded or multipart/form-data) of at most 256 parameters with names of at most 256 bytes.")

// form is one request's parameters: userData[key]=value pairs in UserData,
// everything else in Fields. A repeated name keeps its last value.
type form struct {
	Fields   map[string]string
	UserData map[string]string
}

func newForm() form { return form{Fields: map[string]string{}, UserData: map[string]string{}} }

// add records one parameter, copying key and value.
func (f *form) add(key, value []byte) error {
	if len(key) > maxKeyBytes {
		return errBadForm
	}
	if len(key) == 0 {
		return nil
	}
	k := string(key)
	if inner, ok := strings.CutPrefix(k, "userData["); ok && strings.HasSuffix(inner, "]") {
		inner = inner[:len(inner)-1]
		if inner == "" {
			return nil // jQuery's "userData[]": an array, not a key
		}
		if _, seen := f.UserData[inner]; !seen && len(f.Fields)+len(f.UserData) >= maxFields {
			return errBadForm
		}
		f.UserData[inner] = string(value)
		return nil
	}
	if _, seen := f.Fields[k]; !seen && len(f.Fields)+len(f.UserData) >= maxFields {
		return errBadForm
	}
	f.Fields[k] = string(value)
	return nil
}

// get returns a parameter's value, "" when absent.
func (f *form) get(name string) string { return f.Fields[name] }

// decodeArgs reads URL-encoded parameters parsed by fasthttp.
func decodeArgs(args *fasthttp.Args) (form, error) {
	f := newForm()
	var err error
	args.VisitAll(func(k, v []byte) {
		if err == nil {
			err = f.add(k, v)
		}
	})
	return f, err
}

// decodeURLEncoded parses an application/x-www-form-urlencoded body.
func decodeURLEncoded(body []byte) (form, error) {
	var args fasthttp.Args
	args.ParseBytes(body)
	return decodeArgs(&args)
}

// decodeValues reads the values of a parsed multipart form; files are
// ignored.
func decodeValues(vals map[string][]string) (form, error) {
	f := newForm()
	keys := make([]string, 0, len(vals))
	for k := range vals {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		for _, v := range vals[k] {
			if err := f.add([]byte(k), []byte(v)); err != nil {
				return f, err
			}
		}
	}
	return f, nil
}

// encode is the form as an URL-encoded body, names sorted.
func (f *form) encode() []byte {
	v := url.Values{}
	for k, x := range f.Fields {
		v.Set(k, x)
	}
	for k, x := range f.UserData {
		v.Set("userData["+k+"]", x)
	}
	return []byte(v.Encode())
}

// userDataJSON is the userData of the form as the JSON object WebChatService
// takes; nil when there is none.
func (f *form) userDataJSON() map[string]string {
	if len(f.UserData) == 0 {
		return nil
	}
	return f.UserData
}
