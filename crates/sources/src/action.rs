//! `@action` from an operation name, the same way for every source:
//! the operation's verb, in the past tense Datadog's audit events use.
//!
//! | verb (first word of the operation) | `@action` |
//! | --- | --- |
//! | create, add, insert, register, run, launch, allocate, import, upload, issue, generate, regenerate, copy, clone, invite, provision | `created` |
//! | delete, remove, deregister, terminate, destroy, revoke, detach, disassociate, purge, unregister, deprovision | `deleted` |
//! | update, modify, put, set, change, patch, edit, replace, attach, associate, enable, disable, start, stop, reset, rotate, tag, untag, grant, assign, unassign, suspend, unsuspend, activate, deactivate, transfer, rename, restore, move, apply, cancel, reboot, lock, unlock | `modified` |
//! | get, list, describe, head, lookup, search, select, query, read, view, download, batchget, scan, export, watch, test, check, validate | `accessed` |
//! | login, logon, signin, authenticate, assume, federate, session, consolelogin, auth, sso, mfa, verify | `authenticated` |
//! | logout, signout, logoff | `logged_out` |
//! | anything else | the verb itself, lowercased |

/// `@action` for `operation` (`DeleteTrail`, `storage.buckets.create`,
/// `user.session.start`, ...), given its verb. `None` when there is no verb.
pub fn of_verb(verb: &str) -> Option<String> {
    let verb = verb.trim().to_ascii_lowercase();
    if verb.is_empty() {
        return None;
    }
    let action = match verb.as_str() {
        "create" | "add" | "insert" | "register" | "run" | "launch" | "allocate" | "import"
        | "upload" | "issue" | "generate" | "regenerate" | "copy" | "clone" | "invite"
        | "provision" => "created",
        "delete" | "remove" | "deregister" | "terminate" | "destroy" | "revoke" | "detach"
        | "disassociate" | "purge" | "unregister" | "deprovision" => "deleted",
        "update" | "modify" | "put" | "set" | "change" | "patch" | "edit" | "replace"
        | "attach" | "associate" | "enable" | "disable" | "start" | "stop" | "reset" | "rotate"
        | "tag" | "untag" | "grant" | "assign" | "unassign" | "suspend" | "unsuspend"
        | "activate" | "deactivate" | "transfer" | "rename" | "restore" | "move" | "apply"
        | "cancel" | "reboot" | "lock" | "unlock" => "modified",
        "get" | "list" | "describe" | "head" | "lookup" | "search" | "select" | "query"
        | "read" | "view" | "download" | "batchget" | "scan" | "export" | "watch" | "test"
        | "check" | "validate" => "accessed",
        "login" | "logon" | "signin" | "authenticate" | "assume" | "federate" | "session"
        | "consolelogin" | "auth" | "sso" | "mfa" | "verify" => "authenticated",
        "logout" | "signout" | "logoff" => "logged_out",
        _ => return Some(verb),
    };
    Some(action.to_string())
}

/// `@action` for one word of an operation in any casing (`LISTKEYS`,
/// `listKeys`, `regenerateKey`): the longest known verb it starts with,
/// else its CamelCase verb.
pub fn of_word(word: &str) -> Option<String> {
    let lower = word.to_ascii_lowercase();
    let known = KNOWN_VERBS
        .iter()
        .filter(|verb| lower.starts_with(**verb))
        .max_by_key(|verb| verb.len());
    match known {
        Some(verb) => of_verb(verb),
        None => of_verb(camel_verb(word)),
    }
}

/// Verbs [`of_verb`] maps, for prefix matching (`sign-in` aside).
const KNOWN_VERBS: [&str; 87] = [
    "create",
    "add",
    "insert",
    "register",
    "run",
    "launch",
    "allocate",
    "import",
    "upload",
    "issue",
    "generate",
    "regenerate",
    "copy",
    "clone",
    "invite",
    "provision",
    "delete",
    "remove",
    "deregister",
    "terminate",
    "destroy",
    "revoke",
    "detach",
    "disassociate",
    "purge",
    "unregister",
    "deprovision",
    "update",
    "modify",
    "put",
    "set",
    "change",
    "patch",
    "edit",
    "replace",
    "attach",
    "associate",
    "enable",
    "disable",
    "start",
    "stop",
    "reset",
    "rotate",
    "tag",
    "untag",
    "grant",
    "assign",
    "unassign",
    "suspend",
    "unsuspend",
    "activate",
    "deactivate",
    "transfer",
    "rename",
    "restore",
    "move",
    "apply",
    "cancel",
    "reboot",
    "lock",
    "unlock",
    "get",
    "list",
    "describe",
    "head",
    "lookup",
    "search",
    "select",
    "query",
    "read",
    "view",
    "download",
    "batchget",
    "scan",
    "export",
    "watch",
    "test",
    "check",
    "validate",
    "login",
    "logon",
    "signin",
    "authenticate",
    "assume",
    "federate",
    "logout",
    "signout",
];

/// The first word of a CamelCase operation name (`DeleteTrail` → `Delete`,
/// `ConsoleLogin` → `ConsoleLogin` is special-cased by callers).
pub fn camel_verb(operation: &str) -> &str {
    let end = operation
        .char_indices()
        .skip(1)
        .find(|(_, ch)| ch.is_ascii_uppercase())
        .map_or(operation.len(), |(index, _)| index);
    &operation[..end]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verbs_become_past_tense_actions() {
        assert_eq!(
            of_verb(camel_verb("DeleteTrail")).as_deref(),
            Some("deleted")
        );
        assert_eq!(
            of_verb(camel_verb("CreateUser")).as_deref(),
            Some("created")
        );
        assert_eq!(
            of_verb(camel_verb("PutBucketPolicy")).as_deref(),
            Some("modified")
        );
        assert_eq!(
            of_verb(camel_verb("GetObject")).as_deref(),
            Some("accessed")
        );
        assert_eq!(
            of_verb(camel_verb("AssumeRole")).as_deref(),
            Some("authenticated")
        );
        assert_eq!(of_verb("Invoke").as_deref(), Some("invoke"));
        assert_eq!(of_word("LISTKEYS").as_deref(), Some("accessed"));
        assert_eq!(of_word("regenerateKey").as_deref(), Some("created"));
        assert_eq!(of_word("unlockVault").as_deref(), Some("modified"));
        assert_eq!(of_verb(""), None);
    }
}
