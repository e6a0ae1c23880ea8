//! The named permissions every operation is checked against, and the
//! three managed roles built from them (Datadog's Admin, Standard and
//! Read Only).

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};

/// What a role may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Permission {
    /// Search, aggregate, live tail, saved views read.
    AuditLogsRead,
    /// Send events (the intake, imports).
    AuditLogsWrite,
    /// Export events.
    AuditLogsExport,
    /// Run SQL (HTTP, PostgreSQL).
    SqlQuery,
    /// Create, change and delete saved views.
    SavedViewsWrite,
    MonitorsRead,
    MonitorsWrite,
    DestinationsWrite,
    ArchivesWrite,
    /// Users, roles and their permissions.
    UserAccessManage,
    /// API and application keys of others (one's own application keys
    /// need none).
    ApiKeysWrite,
    /// Replay a recorded gateway session.
    GatewayReplay,
    /// Checkpoints and proofs.
    IntegrityRead,
    /// Settings of the whole installation: retention.
    OrgManagement,
}

impl Permission {
    pub const ALL: [Permission; 14] = [
        Permission::AuditLogsRead,
        Permission::AuditLogsWrite,
        Permission::AuditLogsExport,
        Permission::SqlQuery,
        Permission::SavedViewsWrite,
        Permission::MonitorsRead,
        Permission::MonitorsWrite,
        Permission::DestinationsWrite,
        Permission::ArchivesWrite,
        Permission::UserAccessManage,
        Permission::ApiKeysWrite,
        Permission::GatewayReplay,
        Permission::IntegrityRead,
        Permission::OrgManagement,
    ];

    /// The permission's name, as the API and the docs write it.
    pub fn name(self) -> &'static str {
        match self {
            Permission::AuditLogsRead => "audit_logs_read",
            Permission::AuditLogsWrite => "audit_logs_write",
            Permission::AuditLogsExport => "audit_logs_export",
            Permission::SqlQuery => "sql_query",
            Permission::SavedViewsWrite => "saved_views_write",
            Permission::MonitorsRead => "monitors_read",
            Permission::MonitorsWrite => "monitors_write",
            Permission::DestinationsWrite => "destinations_write",
            Permission::ArchivesWrite => "archives_write",
            Permission::UserAccessManage => "user_access_manage",
            Permission::ApiKeysWrite => "api_keys_write",
            Permission::GatewayReplay => "gateway_replay",
            Permission::IntegrityRead => "integrity_read",
            Permission::OrgManagement => "org_management",
        }
    }

    /// What the permission allows, for lists of permissions.
    pub fn description(self) -> &'static str {
        match self {
            Permission::AuditLogsRead => {
                "search, aggregate and live-tail audit events; read saved views"
            }
            Permission::AuditLogsWrite => "send audit events (the intake, imports)",
            Permission::AuditLogsExport => "export audit events",
            Permission::SqlQuery => "run SQL over audit events (HTTP, PostgreSQL)",
            Permission::SavedViewsWrite => "create, change and delete saved views",
            Permission::MonitorsRead => "read monitors",
            Permission::MonitorsWrite => "create, change, mute and delete monitors",
            Permission::DestinationsWrite => "manage forwarding destinations",
            Permission::ArchivesWrite => "manage archives",
            Permission::UserAccessManage => "manage users, roles and their permissions",
            Permission::ApiKeysWrite => "manage API keys and everyone's application keys",
            Permission::GatewayReplay => "replay a recorded gateway session",
            Permission::IntegrityRead => "read checkpoints and proofs",
            Permission::OrgManagement => "change the installation's settings (retention)",
        }
    }

    /// The group the permission is listed under.
    pub fn group(self) -> &'static str {
        match self {
            Permission::UserAccessManage | Permission::ApiKeysWrite => "Access Management",
            Permission::OrgManagement => "Organization Management",
            Permission::MonitorsRead | Permission::MonitorsWrite => "Monitors",
            Permission::DestinationsWrite | Permission::ArchivesWrite => "Log Management",
            _ => "Audit Trail",
        }
    }

    /// Whether the permission changes anything (rather than reads).
    pub fn writes(self) -> bool {
        !matches!(
            self,
            Permission::AuditLogsRead
                | Permission::AuditLogsExport
                | Permission::SqlQuery
                | Permission::MonitorsRead
                | Permission::IntegrityRead
        )
    }

    pub fn parse(name: &str) -> Option<Permission> {
        Permission::ALL
            .into_iter()
            .find(|permission| permission.name() == name)
    }
}

/// Datadog's managed roles.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ManagedRole {
    Admin,
    Standard,
    ReadOnly,
}

impl ManagedRole {
    pub const ALL: [ManagedRole; 3] = [
        ManagedRole::Admin,
        ManagedRole::Standard,
        ManagedRole::ReadOnly,
    ];

    /// The role's id, fixed so that files and links keep naming it.
    pub fn id(self) -> &'static str {
        match self {
            ManagedRole::Admin => "admin",
            ManagedRole::Standard => "standard",
            ManagedRole::ReadOnly => "read_only",
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            ManagedRole::Admin => "Admin",
            ManagedRole::Standard => "Standard",
            ManagedRole::ReadOnly => "Read Only",
        }
    }

    /// Read Only reads; Standard also writes events and manages its own
    /// views, monitors and keys; Admin may do everything.
    pub fn permissions(self) -> BTreeSet<Permission> {
        let read_only = [
            Permission::AuditLogsRead,
            Permission::AuditLogsExport,
            Permission::SqlQuery,
            Permission::MonitorsRead,
            Permission::IntegrityRead,
        ];
        let standard = [
            Permission::AuditLogsWrite,
            Permission::SavedViewsWrite,
            Permission::MonitorsWrite,
            Permission::GatewayReplay,
        ];
        match self {
            ManagedRole::ReadOnly => read_only.into_iter().collect(),
            ManagedRole::Standard => read_only.into_iter().chain(standard).collect(),
            ManagedRole::Admin => Permission::ALL.into_iter().collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_roles_nest() {
        for permission in Permission::ALL {
            assert_eq!(Permission::parse(permission.name()), Some(permission));
            let json = serde_json::to_string(&permission).expect("json");
            assert_eq!(json, format!("\"{}\"", permission.name()));
        }
        assert_eq!(Permission::parse("root"), None);
        let read_only = ManagedRole::ReadOnly.permissions();
        let standard = ManagedRole::Standard.permissions();
        assert!(read_only.is_subset(&standard));
        assert!(standard.is_subset(&ManagedRole::Admin.permissions()));
        assert!(!standard.contains(&Permission::UserAccessManage));
        assert!(!read_only.contains(&Permission::SavedViewsWrite));
    }
}
