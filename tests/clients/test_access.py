"""Users, roles and keys through the official Python Datadog client
(`KeyManagementApi`, `UsersApi`, `RolesApi`) against a real server: made,
listed, changed and revoked, each change in evident's own audit trail,
a revoked key refused on every surface within a second."""

import time

import psycopg
import pytest
from datadog_api_client import ApiClient, Configuration
from datadog_api_client.exceptions import ApiException
from datadog_api_client.v2.api.audit_api import AuditApi
from datadog_api_client.v2.api.key_management_api import KeyManagementApi
from datadog_api_client.v2.api.logs_api import LogsApi
from datadog_api_client.v2.api.roles_api import RolesApi
from datadog_api_client.v2.api.users_api import UsersApi
from datadog_api_client.v2.model.api_key_create_attributes import APIKeyCreateAttributes
from datadog_api_client.v2.model.api_key_create_data import APIKeyCreateData
from datadog_api_client.v2.model.api_key_create_request import APIKeyCreateRequest
from datadog_api_client.v2.model.api_key_update_attributes import APIKeyUpdateAttributes
from datadog_api_client.v2.model.api_key_update_data import APIKeyUpdateData
from datadog_api_client.v2.model.api_key_update_request import APIKeyUpdateRequest
from datadog_api_client.v2.model.api_keys_type import APIKeysType
from datadog_api_client.v2.model.application_key_create_attributes import ApplicationKeyCreateAttributes
from datadog_api_client.v2.model.application_key_create_data import ApplicationKeyCreateData
from datadog_api_client.v2.model.application_key_create_request import ApplicationKeyCreateRequest
from datadog_api_client.v2.model.application_key_update_attributes import ApplicationKeyUpdateAttributes
from datadog_api_client.v2.model.application_key_update_data import ApplicationKeyUpdateData
from datadog_api_client.v2.model.application_key_update_request import ApplicationKeyUpdateRequest
from datadog_api_client.v2.model.application_keys_type import ApplicationKeysType
from datadog_api_client.v2.model.audit_logs_query_filter import AuditLogsQueryFilter
from datadog_api_client.v2.model.audit_logs_search_events_request import AuditLogsSearchEventsRequest
from datadog_api_client.v2.model.http_log import HTTPLog
from datadog_api_client.v2.model.http_log_item import HTTPLogItem
from datadog_api_client.v2.model.permissions_type import PermissionsType
from datadog_api_client.v2.model.relationship_to_permission import RelationshipToPermission
from datadog_api_client.v2.model.relationship_to_permission_data import RelationshipToPermissionData
from datadog_api_client.v2.model.relationship_to_permissions import RelationshipToPermissions
from datadog_api_client.v2.model.relationship_to_role_data import RelationshipToRoleData
from datadog_api_client.v2.model.relationship_to_roles import RelationshipToRoles
from datadog_api_client.v2.model.relationship_to_user import RelationshipToUser
from datadog_api_client.v2.model.relationship_to_user_data import RelationshipToUserData
from datadog_api_client.v2.model.role_create_attributes import RoleCreateAttributes
from datadog_api_client.v2.model.role_create_data import RoleCreateData
from datadog_api_client.v2.model.role_create_request import RoleCreateRequest
from datadog_api_client.v2.model.role_relationships import RoleRelationships
from datadog_api_client.v2.model.roles_type import RolesType
from datadog_api_client.v2.model.user_create_attributes import UserCreateAttributes
from datadog_api_client.v2.model.user_create_data import UserCreateData
from datadog_api_client.v2.model.user_create_request import UserCreateRequest
from datadog_api_client.v2.model.user_relationships import UserRelationships
from datadog_api_client.v2.model.user_update_attributes import UserUpdateAttributes
from datadog_api_client.v2.model.user_update_data import UserUpdateData
from datadog_api_client.v2.model.user_update_request import UserUpdateRequest
from datadog_api_client.v2.model.users_type import UsersType

from conftest import API_KEY, APP_KEY


def client(server, api_key=API_KEY, app_key=APP_KEY):
    config = Configuration(host=server["base"])
    config.api_key["apiKeyAuth"] = api_key
    config.api_key["appKeyAuth"] = app_key
    return ApiClient(config)


def own_events(server, query):
    """evident's own events matching `query`, newest first."""
    with client(server) as api:
        response = AuditApi(api).search_audit_logs(body=AuditLogsSearchEventsRequest(
            filter=AuditLogsQueryFilter(query=f"source:evident {query}", _from="now-1h", to="now")))
    return [event.attributes.attributes for event in response.data or []]


def refused_within_a_second(call):
    """`call` raises 401/403 within a second of a revocation."""
    deadline = time.monotonic() + 1.0
    while True:
        try:
            call()
        except ApiException as error:
            assert error.status in (401, 403), error
            return
        assert time.monotonic() < deadline, "the revoked key still worked a second later"
        time.sleep(0.05)


def log_item(marker):
    return HTTPLogItem(ddsource="python", message=f"access test {marker}", service="access")


def test_api_keys_are_made_listed_renamed_and_revoked(server):
    with client(server) as api:
        keys = KeyManagementApi(api)
        created = keys.create_api_key(body=APIKeyCreateRequest(data=APIKeyCreateData(
            type=APIKeysType.API_KEYS, attributes=APIKeyCreateAttributes(name="ci sender"))))
        key_id, text = created.data.id, created.data.attributes.key
        assert created.data.attributes.last4 == text[-4:]

        # The new key sends events.
        with client(server, api_key=text) as sender:
            LogsApi(sender).submit_log(body=HTTPLog([log_item("new key")]))

        listed = keys.list_api_keys()
        mine = [key for key in listed.data if key.id == key_id]
        assert len(mine) == 1 and mine[0].attributes.name == "ci sender"
        assert "key" not in mine[0].attributes.to_dict(), "a key's text is shown at creation only"
        assert mine[0].attributes.date_last_used is not None, "last use noted"

        renamed = keys.update_api_key(api_key_id=key_id, body=APIKeyUpdateRequest(data=APIKeyUpdateData(
            type=APIKeysType.API_KEYS, id=key_id, attributes=APIKeyUpdateAttributes(name="ci sender (old)"))))
        assert renamed.data.attributes.name == "ci sender (old)"
        assert keys.get_api_key(api_key_id=key_id).data.attributes.name == "ci sender (old)"

        keys.delete_api_key(api_key_id=key_id)
        with client(server, api_key=text) as sender:
            refused_within_a_second(lambda: LogsApi(sender).submit_log(body=HTTPLog([log_item("revoked")])))
        with pytest.raises(ApiException) as missing:
            keys.get_api_key(api_key_id=key_id)
        assert missing.value.status == 404

    changes = own_events(server, f"@evt.name:api_key @asset.id:{key_id}")
    assert sorted(change["action"] for change in changes) == ["created", "deleted", "modified"]
    for change in changes:
        assert change["usr"]["email"] == "admin@localhost"
        assert change["auth_method"] == "api_app_keys"
        assert text not in str(change), "a key's text never enters the trail"


def test_users_and_roles_with_their_relationships(server):
    with client(server) as api:
        users, roles = UsersApi(api), RolesApi(api)
        listed = {role.attributes.name: role.id for role in roles.list_roles().data}
        assert {"Admin", "Standard", "Read Only"} <= set(listed)

        ana = users.create_user(body=UserCreateRequest(data=UserCreateData(
            type=UsersType.USERS,
            attributes=UserCreateAttributes(email="Ana@Example.com", name="Ana"),
            relationships=UserRelationships(roles=RelationshipToRoles(data=[
                RelationshipToRoleData(id=listed["Read Only"], type=RolesType.ROLES)]))))).data
        assert ana.attributes.email == "ana@example.com" and ana.attributes.status == "Active"
        with pytest.raises(ApiException) as duplicate:
            users.create_user(body=UserCreateRequest(data=UserCreateData(
                type=UsersType.USERS, attributes=UserCreateAttributes(email="ana@example.com"))))
        assert duplicate.value.status == 409

        found = users.list_users(filter="ana@")
        assert [user.id for user in found.data] == [ana.id]
        assert users.get_user(user_id=ana.id).data.attributes.name == "Ana"
        permissions = {p.id for p in users.list_user_permissions(user_id=ana.id).data}
        assert "audit_logs_read" in permissions and "user_access_manage" not in permissions

        exporters = roles.create_role(body=RoleCreateRequest(data=RoleCreateData(
            type=RolesType.ROLES, attributes=RoleCreateAttributes(name="Exporters"),
            relationships=RoleRelationships(permissions=RelationshipToPermissions(data=[
                RelationshipToPermissionData(id="audit_logs_export", type=PermissionsType.PERMISSIONS)]))))).data
        roles.add_permission_to_role(role_id=exporters.id, body=RelationshipToPermission(
            data=RelationshipToPermissionData(id="sql_query", type=PermissionsType.PERMISSIONS)))
        assert {p.id for p in roles.list_role_permissions(role_id=exporters.id).data} == {
            "audit_logs_export", "sql_query"}
        members = roles.add_user_to_role(role_id=exporters.id, body=RelationshipToUser(
            data=RelationshipToUserData(id=ana.id, type=UsersType.USERS)))
        assert [member.id for member in members.data] == [ana.id]
        assert roles.get_role(role_id=exporters.id).data.attributes.user_count == 1

        # A role naming an unknown permission; a managed role changed.
        with pytest.raises(ApiException) as unknown:
            roles.add_permission_to_role(role_id=exporters.id, body=RelationshipToPermission(
                data=RelationshipToPermissionData(id="root", type=PermissionsType.PERMISSIONS)))
        assert unknown.value.status == 400 and "not a permission" in str(unknown.value.body)
        with pytest.raises(ApiException) as managed:
            roles.remove_permission_from_role(role_id=listed["Admin"], body=RelationshipToPermission(
                data=RelationshipToPermissionData(id="user_access_manage", type=PermissionsType.PERMISSIONS)))
        assert managed.value.status == 400

        disabled = users.update_user(user_id=ana.id, body=UserUpdateRequest(data=UserUpdateData(
            type=UsersType.USERS, id=ana.id, attributes=UserUpdateAttributes(disabled=True))))
        assert disabled.data.attributes.disabled is True

        # The last Admin cannot be disabled, nor lose the role.
        admin_id = next(user.id for user in users.list_users().data if user.attributes.email == "admin@localhost")
        with pytest.raises(ApiException) as last:
            users.disable_user(user_id=admin_id)
        assert last.value.status == 400 and "Admin" in str(last.value.body)
        with pytest.raises(ApiException) as last_role:
            roles.remove_user_from_role(role_id=listed["Admin"], body=RelationshipToUser(
                data=RelationshipToUserData(id=admin_id, type=UsersType.USERS)))
        assert last_role.value.status == 400

        roles.delete_role(role_id=exporters.id)
        assert exporters.id not in {role.id for role in roles.list_roles().data}

    created = own_events(server, f"@evt.name:user_access_management @asset.type:user @asset.id:{ana.id}")
    actions = sorted(event["action"] for event in created)
    assert actions == ["created", "modified", "modified"], actions
    made = next(event for event in created if event["action"] == "created")
    assert made["asset"]["new_value"]["roles"] == ["Read Only"]
    assert made["usr"]["email"] == "admin@localhost"
    role_changes = own_events(server, f"@asset.type:role @asset.id:{exporters.id}")
    assert sorted(event["action"] for event in role_changes) == ["created", "deleted", "modified"]


def test_own_application_keys_scoped_used_and_revoked_everywhere(server):
    with client(server) as api:
        keys = KeyManagementApi(api)
        created = keys.create_current_user_application_key(body=ApplicationKeyCreateRequest(
            data=ApplicationKeyCreateData(type=ApplicationKeysType.APPLICATION_KEYS,
                                          attributes=ApplicationKeyCreateAttributes(
                                              name="reader", scopes=["audit_logs_read", "sql_query"]))))
        key_id, text = created.data.id, created.data.attributes.key
        assert created.data.attributes.scopes == ["audit_logs_read", "sql_query"]

    # The scoped key reads and runs SQL, and may not manage keys.
    with client(server, app_key=text) as scoped:
        AuditApi(scoped).search_audit_logs(body=AuditLogsSearchEventsRequest(
            filter=AuditLogsQueryFilter(query="*", _from="now-1h", to="now")))
        with pytest.raises(ApiException) as refused:
            KeyManagementApi(scoped).list_api_keys()
        assert refused.value.status == 403 and "api_keys_write" in str(refused.value.body)
        # Nor make itself a wider key.
        with pytest.raises(ApiException) as wider:
            KeyManagementApi(scoped).create_current_user_application_key(body=ApplicationKeyCreateRequest(
                data=ApplicationKeyCreateData(type=ApplicationKeysType.APPLICATION_KEYS,
                                              attributes=ApplicationKeyCreateAttributes(
                                                  name="wider", scopes=["user_access_manage"]))))
        assert wider.value.status == 403
    host, port = server["postgres"].rsplit(":", 1)
    with psycopg.connect(host=host, port=port, user="analyst", dbname="evident", password=text,
                         sslmode="disable", autocommit=True) as connection:
        assert connection.execute("SELECT 1").fetchall() == [(1,)]

    with client(server) as api:
        keys = KeyManagementApi(api)
        mine = keys.list_current_user_application_keys()
        listed = next(key for key in mine.data if key.id == key_id)
        assert listed.attributes.last_used_at is not None
        assert listed.attributes.last4 == text[-4:]
        renamed = keys.update_current_user_application_key(app_key_id=key_id, body=ApplicationKeyUpdateRequest(
            data=ApplicationKeyUpdateData(type=ApplicationKeysType.APPLICATION_KEYS, id=key_id,
                                          attributes=ApplicationKeyUpdateAttributes(name="reader (laptop)"))))
        assert renamed.data.attributes.name == "reader (laptop)"
        assert renamed.data.attributes.scopes == ["audit_logs_read", "sql_query"]
        assert key_id in {key.id for key in keys.list_application_keys().data}

        keys.delete_current_user_application_key(app_key_id=key_id)

    with client(server, app_key=text) as revoked:
        refused_within_a_second(lambda: AuditApi(revoked).search_audit_logs(body=AuditLogsSearchEventsRequest(
            filter=AuditLogsQueryFilter(query="*", _from="now-1h", to="now"))))
    with pytest.raises(psycopg.OperationalError):
        psycopg.connect(host=host, port=port, user="analyst", dbname="evident", password=text,
                        sslmode="disable", connect_timeout=5)

    changes = own_events(server, f"@evt.name:application_key @asset.id:{key_id}")
    assert sorted(change["action"] for change in changes) == ["created", "deleted", "modified"]
    assert all(text not in str(change) for change in changes)


def test_management_bodies_are_checked(server):
    import requests

    headers = {"DD-API-KEY": API_KEY, "DD-APPLICATION-KEY": APP_KEY}
    base = server["base"]
    # Not a document; the wrong type; too large.
    response = requests.post(f"{base}/api/v2/users", headers=headers, json={"email": "x@example.com"})
    assert response.status_code == 400, response.text
    response = requests.post(f"{base}/api/v2/users", headers=headers,
                             json={"data": {"type": "roles", "attributes": {"email": "x@example.com"}}})
    assert response.status_code == 400 and "users" in response.text
    response = requests.post(f"{base}/api/v2/roles", headers=headers, json={"data": {
        "type": "roles", "attributes": {"name": "x" * (2 << 20)}}})
    assert response.status_code == 413
    response = requests.post(f"{base}/api/v2/users", headers=headers, json={"data": {
        "type": "users", "attributes": {"email": "not an address"}}})
    assert response.status_code == 400 and "email" in response.text
