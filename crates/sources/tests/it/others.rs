//! Hand-checked records of the other sources: the values below were read
//! off the raw records in shared/data, not produced by the code.

use evident_sources::Source;

use crate::support::{Checked, check_all, shared_dir};

#[test]
fn gcp() {
    let path = shared_dir().join("data/gcp-audit/elastic-integrations/gcp-audit-raw.jsonl");
    check_all(
        Source::Gcp,
        &path,
        &[
            Checked {
                line: 1,
                fields: &[
                    ("evt.name", Some("GetResourceBillingInfo")),
                    ("evt.category", Some("data_access")),
                    ("usr.email", Some("xxx@xxx.xxx")),
                    ("evt.actor.type", Some("user")),
                    ("action", Some("accessed")),
                    ("asset.type", Some("project")),
                    ("asset.id", Some("projects/elastic-beats")),
                    ("network.client.ip", Some("192.168.1.1")),
                    ("cloud.account.id", Some("elastic-beats")),
                    ("error.kind", None),
                ],
                timestamp: Some("2019-12-19T00:49:36.086Z"),
                status: "info",
                message: "GetResourceBillingInfo by xxx@xxx.xxx",
            },
            Checked {
                line: 2,
                fields: &[
                    ("evt.name", Some("beta.compute.instances.aggregatedList")),
                    ("error.kind", Some("PERMISSION_DENIED")),
                    ("error.message", Some("PERMISSION_DENIED")),
                    ("asset.type", Some("api")),
                    ("cloud.region", Some("global")),
                    (
                        "http.useragent",
                        Some(
                            "Mozilla/5.0 (Macintosh; Intel Mac OS X 10.15; rv:71.0) Gecko/20100101 Firefox/71.0,gzip(gfe),gzip(gfe)",
                        ),
                    ),
                ],
                timestamp: Some("2019-12-19T00:44:25.051Z"),
                status: "error",
                message: "beta.compute.instances.aggregatedList by xxx@xxx.xxx failed: PERMISSION_DENIED",
            },
        ],
    );
}

#[test]
fn azure() {
    let dir = shared_dir().join("data/azure/elastic-integrations");
    check_all(
        Source::Azure,
        &dir.join("activitylogs-raw.jsonl"),
        &[Checked {
            line: 1,
            fields: &[
                (
                    "evt.name",
                    Some("MICROSOFT.EVENTHUB/NAMESPACES/AUTHORIZATIONRULES/LISTKEYS/ACTION"),
                ),
                ("evt.category", Some("Action")),
                ("usr.id", Some("8a4de8b5-095c-47d0-a96f-a75130c61d53")),
                ("evt.actor.type", Some("service_principal")),
                ("action", Some("accessed")),
                ("asset.type", Some("MICROSOFT.EVENTHUB/NAMESPACES")),
                ("network.client.ip", Some("81.2.69.144")),
                (
                    "cloud.account.id",
                    Some("8a4de8b5-095c-47d0-a96f-a75130c61d53"),
                ),
                ("cloud.region", Some("global")),
            ],
            timestamp: Some("2019-10-24T00:13:46.3554259Z"),
            status: "info",
            message: "MICROSOFT.EVENTHUB/NAMESPACES/AUTHORIZATIONRULES/LISTKEYS/ACTION by 8a4de8b5-095c-47d0-a96f-a75130c61d53",
        }],
    );
    check_all(
        Source::Azure,
        &dir.join("entra-signinlogs-service-principal.jsonl"),
        &[Checked {
            line: 1,
            fields: &[
                ("evt.name", Some("Sign-in activity")),
                ("evt.category", Some("ServicePrincipalSignInLogs")),
                (
                    "usr.name",
                    Some("ConfigMgrSvc_22222222-dfb4-4070-ad95-cf1e68280bb0"),
                ),
                ("usr.id", Some("22222222-4677-43b4-a1dc-ecb3230e9350")),
                ("evt.actor.type", Some("service_principal")),
                ("action", Some("authenticated")),
                ("network.client.ip", Some("11.22.33.44")),
                ("error.kind", Some("7000222")),
                (
                    "cloud.account.id",
                    Some("1111111111-902d-4dea-8026-5a790862fede"),
                ),
                ("cloud.region", None),
            ],
            timestamp: Some("2021-07-30T11:29:26.6733668Z"),
            status: "error",
            message: "Sign-in activity by ConfigMgrSvc_22222222-dfb4-4070-ad95-cf1e68280bb0 failed: 7000222",
        }],
    );
}

#[test]
fn okta() {
    let path = shared_dir().join("data/okta/elastic-integrations/okta-system-log.jsonl");
    check_all(
        Source::Okta,
        &path,
        &[Checked {
            line: 3,
            fields: &[
                ("evt.name", Some("policy.evaluate_sign_on")),
                ("usr.email", Some("xxxxxx@elastic.co")),
                ("usr.name", Some("xxxxxx")),
                ("usr.id", Some("00u1abvz4pYqdM8ms4x6")),
                ("evt.actor.type", Some("user")),
                ("asset.type", Some("PolicyEntity")),
                ("asset.id", Some("00p1abvweGGDW10Ur4x6")),
                ("network.client.ip", Some("175.16.199.1")),
                ("auth_method", None),
                ("error.kind", None),
            ],
            timestamp: Some("2020-02-14T20:18:57.762Z"),
            status: "info",
            message: "Evaluation of sign-on policy by xxxxxx@elastic.co",
        }],
    );
}

#[test]
fn github() {
    let path =
        shared_dir().join("data/github-audit/panther-analysis/rule-tests.github-audit.jsonl");
    check_all(
        Source::GitHub,
        &path,
        &[Checked {
            line: 1,
            fields: &[
                ("evt.name", Some("protected_branch.destroy")),
                ("usr.name", Some("cat")),
                ("evt.actor.type", Some("user")),
                ("action", Some("deleted")),
                ("asset.type", Some("protected_branch")),
                ("asset.id", Some("my-org/my-repo")),
            ],
            timestamp: Some("2021-05-18T02:31:58.553Z"),
            status: "info",
            message: "protected_branch.destroy by cat on my-org/my-repo",
        }],
    );
}

#[test]
fn kubernetes() {
    let dir = shared_dir().join("data/kubernetes-audit");
    let wrapped = dir.join("elastic-integrations/k8s-audit-native-gke-aks.jsonl");
    check_all(
        Source::Kubernetes,
        &wrapped,
        &[
            // Native.
            Checked {
                line: 1,
                fields: &[
                    ("evt.name", Some("pods.get")),
                    ("usr.name", Some("system:serviceaccounts:default:default")),
                    ("evt.actor.type", Some("service_account")),
                    ("action", Some("accessed")),
                    ("asset.type", Some("pods")),
                    ("asset.id", Some("default/my-pod")),
                    ("network.client.ip", Some("67.43.156.1")),
                    ("http.status_code", Some("200")),
                    (
                        "http.url_details.path",
                        Some("/api/v1/namespaces/default/pods"),
                    ),
                ],
                timestamp: Some("2025-03-04T06:22:18.819232Z"),
                status: "info",
                message: "system:serviceaccounts:default:default get pods default/my-pod",
            },
            // GKE: a Cloud Audit Logs entry.
            Checked {
                line: 4,
                fields: &[
                    ("evt.name", Some("io.k8s.get")),
                    ("usr.name", Some("system:gke-master-healthcheck")),
                    ("usr.email", None),
                    ("network.client.ip", Some("67.43.156.1")),
                    ("cloud.account.id", Some("elastic-siem")),
                ],
                timestamp: Some("2025-07-13T08:38:39.127266Z"),
                status: "info",
                message: "io.k8s.get by system:gke-master-healthcheck",
            },
            // AKS: the audit event inside an Azure diagnostic record.
            Checked {
                line: 5,
                fields: &[
                    ("evt.name", Some("leases.update")),
                    ("usr.name", Some("aksService")),
                    ("evt.actor.type", Some("user")),
                    ("action", Some("modified")),
                    ("asset.id", Some("kube-system/elastic-agent-cluster-test")),
                    ("cloud.provider", Some("azure")),
                ],
                timestamp: Some("2025-09-30T06:23:35.091134Z"),
                status: "info",
                message: "aksService update leases kube-system/elastic-agent-cluster-test",
            },
        ],
    );
    let eks = dir.join("panther-analysis/rule-tests.eks-audit.jsonl");
    check_all(
        Source::Kubernetes,
        &eks,
        &[Checked {
            line: 8,
            fields: &[
                ("evt.name", Some("get")),
                ("evt.actor.type", Some("anonymous")),
                ("http.status_code", Some("403")),
                ("error.kind", Some("Forbidden")),
                (
                    "error.message",
                    Some(
                        "forbidden: User \"system:anonymous\" cannot get path \"/vendor/phpunit/src/Util/PHP/eval-stdin.php\"",
                    ),
                ),
                ("network.client.ip", Some("8.216.81.10")),
            ],
            timestamp: Some("2024-11-13T23:50:32.672347Z"),
            status: "error",
            message: "system:anonymous get /vendor/phpunit/src/Util/PHP/eval-stdin.php failed: 403",
        }],
    );
}
