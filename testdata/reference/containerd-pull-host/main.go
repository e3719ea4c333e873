// containerd-pull-host prints, for each image reference on standard input
// (one per line), one JSON object: the host containerd's CRI plugin contacts
// to pull it, computed with containerd's own code as the plugin does
// (reference/docker.ParseDockerRef, String, then the resolver's
// reference.Parse and Spec.Hostname), or containerd's error.
//
// Built by build.sh against Debian's containerd 1.6 sources; used by
// image-policy-core's pull_host tests as the reference.
package main

import (
	"bufio"
	"encoding/json"
	"os"

	"github.com/containerd/containerd/reference"
	"github.com/containerd/containerd/reference/docker"
)

type answer struct {
	Input  string `json:"input"`
	OK     bool   `json:"ok"`
	Ref    string `json:"ref,omitempty"`
	Domain string `json:"domain,omitempty"`
	Host   string `json:"host,omitempty"`
	Error  string `json:"error,omitempty"`
}

func main() {
	in := bufio.NewScanner(os.Stdin)
	in.Buffer(make([]byte, 1<<20), 1<<20)
	out := json.NewEncoder(os.Stdout)
	for in.Scan() {
		a := answer{Input: in.Text()}
		named, err := docker.ParseDockerRef(a.Input)
		if err != nil {
			a.Error = err.Error()
		} else {
			a.Ref = named.String()
			a.Domain = docker.Domain(named)
			spec, err := reference.Parse(a.Ref)
			if err != nil {
				a.Error = err.Error()
			} else {
				a.OK = true
				a.Host = spec.Hostname()
			}
		}
		out.Encode(a)
	}
}
