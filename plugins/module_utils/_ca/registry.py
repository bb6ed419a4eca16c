# -*- coding: utf-8 -*-
# Copyright (c) certkeeper.pki contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Every CA type, by its ``ca:`` name. A new type is one file (an Issuer) and one line here."""

from __future__ import annotations

from .._core.errors import CertError
from .base import Issuer
from .deferred import DeferredCA
from .helper import HelperCA
from .local import LocalCA
from .scep import ScepCA
from .self_signed import SelfSignedCA

CA_TYPES: dict = {issuer.name: issuer for issuer in (LocalCA, SelfSignedCA, HelperCA, DeferredCA, ScepCA)}


def issuer_class(name: str) -> type[Issuer]:
    try:
        return CA_TYPES[name]
    except KeyError:
        raise CertError("ca must be one of %s, got %r" % (", ".join(CA_TYPES), name)) from None


def issuer_for(settings, runner=None, store=None) -> Issuer:
    """The issuer of a request's ``ca``, its settings checked; ``store``: where its CA configuration is kept."""
    issuer = issuer_class(settings.ca)
    issuer.check(settings)
    return issuer(settings, runner, store)


def ca_options() -> dict:
    """The request options the CA types read, each once: {name: argument-spec entry}, its description saying
    what it is to each type that reads it."""
    options: dict = {}
    for issuer in CA_TYPES.values():
        for name, spec in issuer.options.items():
            said = "ca %s: %s" % (issuer.name, spec["description"])
            if name in options:
                options[name]["description"] += "; " + said
            else:
                options[name] = dict(spec, description=said)
    return options
