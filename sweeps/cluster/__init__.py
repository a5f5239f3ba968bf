"""Clusters: what the driver knows of the cluster it runs on (shape: the worker types and their trial slots; watch:
what it saw while the trials ran), the clusters this machine can run for trying and testing cluster mode
(autoscaling: cluster.yaml's autoscaler with simulated workers; loopback: a real `ray up` over SSH), and ending
their processes by PID (processes)."""
