// Package mediatype knows the file extensions of the media types the gateway
// detects in uploads (those http.DetectContentType answers): the chat engine
// names stored files by them and the GMS wire announces them. It lives apart
// so that a wire need not import the engine for a table.
package mediatype
