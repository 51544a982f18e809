"""A real Kubernetes control plane (etcd, kube-apiserver, controllers, kwok) for tests and
`hb dev cluster`, built from the Go module proxy by scripts/build-controlplane.sh."""
