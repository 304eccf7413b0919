"""SparseAdam beyond the harness: real sparse-layout gradients (nn.Embedding(sparse=True), BCOO),
torch's integer step in state_dicts, complex parameters refused."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import torch
from jax.experimental import sparse

import jopt
import jopt.optim
from parity import assert_close, x64

ROWS, DIM = 20, 4


def _batches(rng, n):
    # 5 lookups of 20 rows per step: duplicates are common, most rows are absent.
    return [(rng.integers(0, ROWS, 5), rng.standard_normal((5, DIM))) for _ in range(n)]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_embedding_layer_matches_torch_sparse_embedding(dtype):
    rng = np.random.default_rng(0)
    weight = rng.standard_normal((ROWS, DIM)).astype(dtype)
    with x64(dtype):
        emb = torch.nn.Embedding(ROWS, DIM, sparse=True, dtype=torch.float64 if dtype == np.float64 else torch.float32)
        with torch.no_grad():
            emb.weight.copy_(torch.from_numpy(weight))
        t_opt = torch.optim.SparseAdam(emb.parameters(), lr=0.05, maximize=True)
        p = jopt.optim.Parameter(weight)
        j_opt = jopt.optim.SparseAdam([p], lr=0.05, maximize=True)

        def loss_fn(w, idx, y):
            return jnp.sum(jnp.sin(w[idx] - y) ** 2)

        for idx, y in _batches(rng, 40):
            y = y.astype(dtype)
            t_opt.zero_grad()
            (torch.sin(emb(torch.from_numpy(idx)) - torch.from_numpy(y)) ** 2).sum().backward()
            assert emb.weight.grad.is_sparse
            t_opt.step()
            j_opt.zero_grad()
            jopt.optim.backward(loss_fn, p, jnp.asarray(idx), jnp.asarray(y))
            j_opt.step()
        assert_close(p.data, emb.weight.detach().numpy(), dtype)
        assert_close(j_opt.state[p]["exp_avg_sq"], t_opt.state[emb.weight]["exp_avg_sq"].numpy(), dtype)
        sd = j_opt.state_dict()
        assert type(sd["state"][0]["step"]) is int and sd["state"][0]["step"] == t_opt.state_dict()["state"][0]["step"]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_bcoo_gradients_with_duplicate_indices_match_torch(dtype):
    rng = np.random.default_rng(1)
    weight = rng.standard_normal((ROWS, DIM)).astype(dtype)
    with x64(dtype):
        t_param = torch.tensor(weight, requires_grad=True)
        t_opt = torch.optim.SparseAdam([t_param], lr=0.05, betas=(0.5, 0.9))
        tx = jax.jit(jopt.sparse_adam(lr=0.05, betas=(0.5, 0.9)).update)
        params = {"emb": jnp.asarray(weight)}
        state = jopt.sparse_adam(lr=0.05, betas=(0.5, 0.9)).init(params)
        for idx, rows in _batches(rng, 30):
            rows = rows.astype(dtype)
            # Row-sparse, uncoalesced: what nn.Embedding(sparse=True) produces.
            t_param.grad = torch.sparse_coo_tensor(
                torch.from_numpy(idx)[None], torch.from_numpy(rows), (ROWS, DIM), check_invariants=True
            )
            t_opt.step()
            grad = sparse.BCOO((jnp.asarray(rows), jnp.asarray(idx)[:, None]), shape=(ROWS, DIM))
            updates, state = tx({"emb": grad}, state, params)
            params = jopt.apply_updates(params, updates)
        assert_close(params["emb"], t_param.detach().numpy(), dtype)


def test_complex_parameters_are_refused_like_torch():
    with pytest.raises(ValueError) as torch_error:
        torch.optim.SparseAdam([torch.zeros(2), torch.zeros(2, dtype=torch.complex64)])
    with pytest.raises(ValueError) as jopt_error:
        jopt.optim.SparseAdam([jopt.optim.Parameter(jnp.zeros(2)), jopt.optim.Parameter(jnp.zeros(2, jnp.complex64))])
    assert str(jopt_error.value) == str(torch_error.value)
    with pytest.raises(ValueError, match="does not support complex"):
        jopt.sparse_adam().init({"w": jnp.zeros(2, jnp.complex64)})
