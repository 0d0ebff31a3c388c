package server

import "github.com/cxgate/cxgate/config"

// uploadOverhead is what a multipart body adds to its file: boundaries,
// part headers, the other fields.
const uploadOverhead = 64 << 10

// uploadLimit is the largest body POST /v1/files accepts: the largest file
// any deployment of cfg takes (10 MiB at least, the default; at most
// config.MaxFileBytes), plus the multipart overhead. The gateway asks it of
// the running configuration at each upload, so a limit changed through the
// admin API applies at once; the plugins check each deployment's own limit.
func uploadLimit(cfg *config.Config) int {
	largest := int64(10 << 20)
	for _, d := range cfg.Deployments {
		largest = max(largest, d.Files.MaxBytes)
	}
	return int(min(largest, config.MaxFileBytes)) + uploadOverhead
}
