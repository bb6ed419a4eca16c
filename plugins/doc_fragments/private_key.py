# -*- coding: utf-8 -*-
# Copyright (c) certkeeper.pki contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Options shared by every module that makes private keys."""

from __future__ import annotations


class ModuleDocFragment:
    DOCUMENTATION = r"""
options:
  key_type:
    description:
      - Algorithm of private keys this module generates.
      - An existing key of another type or size is replaced by a new one (and a new certificate is requested).
    type: str
    choices: [rsa, ecdsa]
    default: rsa
  key_size:
    description:
      - Size of generated keys. V(2048), V(3072) or V(4096) bits for RSA; V(256) (P-256) or V(384) (P-384) for ECDSA.
      - Defaults to V(2048) for RSA, as in the vendor procedure, and V(256) for ECDSA.
    type: int
"""
