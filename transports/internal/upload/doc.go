// Package upload reads file uploads and writes file downloads the same way
// on every wire that carries files: an upload is a multipart/form-data body
// read as a stream once its route has authenticated it, its file part written
// to the store (a Stager) as it arrives so that an upload holds a few chunks
// in memory whatever its size; a download an attachment that runs nothing.
package upload
