// Package devstack holds the checks of what the repository ships around the
// code: the dashboards (dashboards/), the provisioning of the dev stack
// (provisioning/), the alert rules, docker-compose.yaml with the configs it
// mounts, and scripts/run.sh. There is no code to run here; the tests load
// those files and drive them through the data source's own query parser and
// QueryData, so a panel or rule that the backend would refuse fails
// `go test ./...`, and run scripts/run.sh's native mode against stand-in
// binaries (docs/running.md, "How it is tested").
package devstack
