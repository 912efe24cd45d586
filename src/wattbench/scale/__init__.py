"""Scale-out: shards across hosts, their manifests and merge, xdist workers inside one host."""
