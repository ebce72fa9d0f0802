"""STARK-curve ECDSA signing that gives starknet-py's signatures in a fraction of the time.

Why: `starknet_py.hash.utils.message_signature` calls crypto-cpp's `Sign`, which takes about
160 ms on this machine (a generic scalar multiplication), while the marketplace loader
(`tests.support.marketplace`) signs thousands of transactions. This module computes the same
signature, bit for bit: the nonce `k` comes from the same RFC 6979 function with the same
seed (32), and `k·G` uses a table of precomputed multiples of the generator (32 windows of 8
bits), so a signature costs about 31 point additions in pure Python. Verification stays with
starknet-py (crypto-cpp).

The loader's signer processes run `sign_batch`; this module stays light to import (no
contract ABIs) so that they start fast.
"""

from __future__ import annotations

from functools import cache

from crypto_cpp_py.utils import cpp_generate_k_rfc6979
from starknet_py.constants import EC_ORDER, FIELD_PRIME
from starknet_py.net.client_models import ResourceBoundsMapping
from starknet_py.net.models.transaction import InvokeV3

P = FIELD_PRIME
ALPHA = 1
GENERATOR = (
    0x1EF15C18599971B7BECED415A40F0C7DEACFD9B0D1819E03D723D8BC943CFCA,
    0x5668060AA49730B7BE4801DF46EC62DE53ECD11ABE43A32873000C36E8DC1F,
)
WINDOW_BITS = 8
WINDOWS = 32  # 32 × 8 bits cover every scalar below 2**256
N_ELEMENT_BITS_ECDSA = 251
DEFAULT_SEED = 32  # message_signature's default

Point = tuple[int, int] | None  # affine; None is the point at infinity


def _add(a: Point, b: Point) -> Point:
    """Affine point addition (one modular inverse; fine for building the table)."""
    if a is None:
        return b
    if b is None:
        return a
    (x1, y1), (x2, y2) = a, b
    if x1 == x2:
        if (y1 + y2) % P == 0:
            return None
        slope = (3 * x1 * x1 + ALPHA) * pow(2 * y1, -1, P) % P
    else:
        slope = (y2 - y1) * pow(x2 - x1, -1, P) % P
    x3 = (slope * slope - x1 - x2) % P
    return x3, (slope * (x1 - x3) - y1) % P


@cache
def _table() -> list[list[tuple[int, int]]]:
    """table[i][j] = (j + 1) · 2**(8i) · G, built once per process (about 0.1 s)."""
    table = []
    base: Point = GENERATOR
    for _ in range(WINDOWS):
        row = []
        point: Point = None
        for _ in range((1 << WINDOW_BITS) - 1):
            point = _add(point, base)
            assert point is not None
            row.append(point)
        table.append(row)
        base = _add(row[-1], base)  # 256 · base
    return table


def multiply_generator(k: int) -> tuple[int, int]:
    """k · G for 0 < k < 2**256, with Jacobian mixed additions of table entries."""
    table = _table()
    x1 = y1 = 0
    z1 = 0  # z == 0: infinity
    i = 0
    while k:
        digit = k & 0xFF
        k >>= WINDOW_BITS
        if digit:
            x2, y2 = table[i][digit - 1]
            if z1 == 0:
                x1, y1, z1 = x2, y2, 1
            else:
                z1z1 = z1 * z1 % P
                u2 = x2 * z1z1 % P
                s2 = y2 * z1 % P * z1z1 % P
                h = (u2 - x1) % P
                r = (s2 - y1) % P
                if h == 0:  # same x: doubling or infinity (never met for valid keys)
                    point = _add(_to_affine(x1, y1, z1), (x2, y2))
                    if point is None:
                        x1 = y1 = z1 = 0
                    else:
                        (x1, y1), z1 = point, 1
                else:
                    hh = h * h % P
                    hhh = h * hh % P
                    v = x1 * hh % P
                    x3 = (r * r - hhh - 2 * v) % P
                    y1 = (r * (v - x3) - y1 * hhh) % P
                    x1, z1 = x3, z1 * h % P
        i += 1
    if z1 == 0:
        raise ValueError("k · G is the point at infinity")
    return _to_affine(x1, y1, z1)


def _to_affine(x: int, y: int, z: int) -> tuple[int, int]:
    z_inv = pow(z, -1, P)
    z_inv2 = z_inv * z_inv % P
    return x * z_inv2 % P, y * z_inv2 % P * z_inv % P


def public_key(private_key: int) -> int:
    """The STARK public key (x of private_key · G), as `private_to_stark_key` gives it."""
    return multiply_generator(private_key)[0]


def sign(msg_hash: int, private_key: int, seed: int = DEFAULT_SEED) -> tuple[int, int]:
    """(r, s) exactly as `starknet_py.hash.utils.message_signature(msg_hash, private_key)`."""
    k = cpp_generate_k_rfc6979(msg_hash, private_key, seed)
    r = multiply_generator(k)[0]
    if not 1 <= r < 2**N_ELEMENT_BITS_ECDSA:
        raise ValueError("unlucky nonce: r out of range")  # crypto-cpp raises here too
    z = (msg_hash + r * private_key) % EC_ORDER
    if z == 0:
        raise ValueError("unlucky nonce: msg_hash + r·key is 0")
    w = k * pow(z, -1, EC_ORDER) % EC_ORDER
    if not 1 <= w < 2**N_ELEMENT_BITS_ECDSA:
        raise ValueError("unlucky nonce: w out of range")
    return r, pow(w, -1, EC_ORDER)


def invoke_v3(
    sender: int, nonce: int, calldata: list[int], bounds: ResourceBoundsMapping
) -> InvokeV3:
    """An unsigned INVOKE v3 with starknet-py's defaults (no tip, L1 data availability)."""
    return InvokeV3(
        version=3,
        signature=[],
        nonce=nonce,
        resource_bounds=bounds,
        tip=0,
        calldata=calldata,
        sender_address=sender,
    )


def sign_batch(
    chain_id: int, txs: list[tuple[int, int, int, list[int], ResourceBoundsMapping]]
) -> list[tuple[int, int, int]]:
    """(hash, r, s) of each (sender, private key, nonce, calldata, bounds): a signer's job.

    The hash is starknet-py's `InvokeV3.calculate_hash`; Poseidon over the calldata is most
    of the cost, which is why it runs in separate processes for big loads.
    """
    out = []
    for sender, key, nonce, calldata, bounds in txs:
        tx_hash = invoke_v3(sender, nonce, calldata, bounds).calculate_hash(chain_id)
        out.append((tx_hash, *sign(tx_hash, key)))
    return out
