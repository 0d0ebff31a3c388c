package server

import "github.com/cxgate/cxgate/config"

// uploadOverhead is what a multipart body adds to its file: boundaries,
// part headers, the other fields.
const uploadOverhead = 64 << 10

// uploadLimit is the largest body POST /v1/files accepts: the largest file
// any deployment takes (10 MiB at least, the default, so that a deployment
// enabled or raised to the default later through the admin API is served
// without a restart), plus the multipart overhead. The plugins check each
// deployment's own limit.
func uploadLimit(cfg config.Config) int {
	largest := int64(10 << 20)
	for _, d := range cfg.Deployments {
		largest = max(largest, d.Files.MaxBytes)
	}
	return int(largest) + uploadOverhead
}
