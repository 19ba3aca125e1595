// Command probe runs in a pod of the kind test bed (image gac/kind-probe:v1) and prints one JSON
// line: what it saw of the API server through a Service IP, and whether a TCP connection to an
// address outside the machine got through. __tests__/kind/cluster.test.ts reads it from the logs.
//
//	probe -api 10.96.0.1:443 -egress 192.0.2.1:443 -timeout 3s
package main

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"time"
)

const saDir = "/var/run/secrets/kubernetes.io/serviceaccount"

type apiResult struct {
	URL        string `json:"url"`
	Status     int    `json:"status,omitempty"`
	GitVersion string `json:"gitVersion,omitempty"`
	PeerCN     string `json:"peerCN,omitempty"`
	Error      string `json:"error,omitempty"`
}

type egressResult struct {
	Addr      string `json:"addr"`
	Connected bool   `json:"connected"`
	Error     string `json:"error,omitempty"`
	Millis    int64  `json:"ms"`
}

func probeAPI(addr string, timeout time.Duration) apiResult {
	r := apiResult{URL: "https://" + addr + "/version"}
	ca, err := os.ReadFile(saDir + "/ca.crt")
	if err != nil {
		r.Error = err.Error()
		return r
	}
	token, err := os.ReadFile(saDir + "/token")
	if err != nil {
		r.Error = err.Error()
		return r
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(ca) {
		r.Error = "no certificate in " + saDir + "/ca.crt"
		return r
	}
	// verified against the cluster CA: an answer from anything but this cluster's apiserver fails here
	client := &http.Client{Timeout: timeout, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	req, _ := http.NewRequest(http.MethodGet, r.URL, nil)
	req.Header.Set("Authorization", "Bearer "+strings.TrimSpace(string(token)))
	resp, err := client.Do(req)
	if err != nil {
		r.Error = err.Error()
		return r
	}
	defer resp.Body.Close()
	r.Status = resp.StatusCode
	if resp.TLS != nil && len(resp.TLS.PeerCertificates) > 0 {
		r.PeerCN = resp.TLS.PeerCertificates[0].Subject.CommonName
	}
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	var v struct {
		GitVersion string `json:"gitVersion"`
	}
	if err := json.Unmarshal(body, &v); err != nil {
		r.Error = fmt.Sprintf("body is not version JSON: %v", err)
		return r
	}
	r.GitVersion = v.GitVersion
	return r
}

func probeEgress(addr string, timeout time.Duration) egressResult {
	r := egressResult{Addr: addr}
	start := time.Now()
	c, err := net.DialTimeout("tcp", addr, timeout)
	r.Millis = time.Since(start).Milliseconds()
	if err != nil {
		r.Error = err.Error()
		return r
	}
	c.Close()
	r.Connected = true
	return r
}

func main() {
	api := flag.String("api", "", "host:port of the API server to GET /version from (empty: skip)")
	egress := flag.String("egress", "", "host:port outside the machine to try a TCP connection to (empty: skip)")
	timeout := flag.Duration("timeout", 3*time.Second, "timeout of each probe")
	flag.Parse()
	out := map[string]any{}
	if *api != "" {
		out["api"] = probeAPI(*api, *timeout)
	}
	if *egress != "" {
		out["egress"] = probeEgress(*egress, *timeout)
	}
	b, _ := json.Marshal(out)
	fmt.Println(string(b))
}
