"""`Authorization: Token <key>` against hashed personal tokens (expired or revoked ones get 401).

A view may name `token_permission`: the token lookup then also answers that permission in the same query
(see `services.authenticate_token`), and `HasModelPermission` uses the answer. Service ("predict") tokens
are refused (403) by every view but those that set `service_tokens = True`.
"""

from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework import authentication, exceptions

from mlops_site import services
from mlops_site.models import ApiToken


class ApiTokenAuthentication(authentication.BaseAuthentication):
    keyword = "Token"

    def authenticate(self, request):
        header = authentication.get_authorization_header(request).split()
        if not header or header[0].lower() not in (b"token", b"bearer"):
            return None
        if len(header) != 2:
            raise exceptions.AuthenticationFailed("Invalid Authorization header: use 'Token <key>'.")
        try:
            key = header[1].decode()
        except UnicodeError:
            raise exceptions.AuthenticationFailed("Invalid token.") from None
        view = (request.parser_context or {}).get("view")
        permission = getattr(view, "token_permission", None)
        looked_up = getattr(request._request, "_authenticated_token", None)  # by the idempotency middleware
        if permission is None and looked_up is not None and looked_up[0] == key:
            token = looked_up[1]
        else:
            token = services.authenticate_token(key, permission=permission)
        if token is None:
            raise exceptions.AuthenticationFailed("Invalid, expired or revoked token.")
        if token.scope == ApiToken.Scope.PREDICT and not getattr(view, "service_tokens", False):
            raise exceptions.PermissionDenied(
                "This is a service token: it may only call predict and ground truth. Use a personal token."
            )
        return token.user, token

    def authenticate_header(self, request):
        return self.keyword


class ApiTokenScheme(OpenApiAuthenticationExtension):
    """Documents the token scheme in the OpenAPI schema (Swagger UI's "Authorize" button)."""

    target_class = ApiTokenAuthentication
    name = "tokenAuth"

    def get_security_definition(self, auto_schema):
        return {
            "type": "apiKey",
            "in": "header",
            "name": "Authorization",
            "description": "Personal API token, sent as `Token <key>`.",
        }
