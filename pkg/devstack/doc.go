// Package devstack holds the checks of what the repository ships around the
// code: the dashboards (dashboards/), the provisioning of the dev stack
// (provisioning/), the alert rules and docker-compose.yaml with the configs it
// mounts. There is no code to run here; the tests load those files and drive
// them through the data source's own query parser and QueryData, so a panel or
// rule that the backend would refuse fails `go test ./...`.
package devstack
