"""A customer's support tier, plan and account manager, looked up in the desk's CRM by e-mail address.

Callers use :class:`CrmLookup` (made by :func:`build_crm_lookup` from the settings), whose
:meth:`~CrmLookup.profile` answers from a cache, the CRM or the last known answer, and never raises for
the CRM's trouble. The adapters (:class:`JsonCrmClient`, :class:`HubSpotCrmClient`) retry passing
failures themselves and raise :class:`CrmUnavailable` for the rest.
"""

from supportdesk.integrations.crm.clients import (
    ATTEMPTS,
    HUBSPOT_PROPERTIES,
    HUBSPOT_URL,
    HubSpotCrmClient,
    JsonCrmClient,
    hubspot_search,
)
from supportdesk.integrations.crm.contract import CrmClient, CrmProfile, CrmUnavailable
from supportdesk.integrations.crm.lookup import (
    STALE_SECONDS,
    CrmAnswer,
    CrmLookup,
    CrmSource,
    build_crm_client,
    build_crm_lookup,
    crm_cache,
)

__all__ = [
    "ATTEMPTS",
    "HUBSPOT_PROPERTIES",
    "HUBSPOT_URL",
    "STALE_SECONDS",
    "CrmAnswer",
    "CrmClient",
    "CrmLookup",
    "CrmProfile",
    "CrmSource",
    "CrmUnavailable",
    "HubSpotCrmClient",
    "JsonCrmClient",
    "build_crm_client",
    "build_crm_lookup",
    "crm_cache",
    "hubspot_search",
]
