"""SearchSpace pickles: the same bytes as before search_space.py was split into modules, both ways.

The class now keeps its checked fields in one object, but ``__getstate__`` still writes the attribute dict
the one-module class had, so a pickle made by either version loads in the other. The bytes below were made
by hpopt at commit c0e8ee6 (pickle protocol 4).
"""

from __future__ import annotations

import pickle

import numpy as np
import pytest

from hpopt.search_space import SearchSpace

OLD_PICKLES = [
    (('uniform', [0, 1], None),
        "80049592000000000000008c1268706f70742e7365617263685f7370616365948c0b5365617263685370616365949394"
        "2981947d94288c055f6e616d65944e8c045f726177948c07756e69666f726d945d94284b004b016586948c055f747970"
        "659468078c025f71944e8c055f62617365944e8c085f63686f69636573944e8c065f72616e67659468088c035f6c6f94"
        "4b008c035f6869944b0175622e"),
    (('quniform', [16, 512, 16], 'bs'),
        "800495ea000000000000008c1268706f70742e7365617263685f7370616365948c0b5365617263685370616365949394"
        "2981947d94288c055f6e616d65948c026273948c045f726177948c0871756e69666f726d945d94284b104d00024b1065"
        "86948c055f747970659468088c025f71944b108c055f62617365944e8c085f63686f69636573944e8c065f72616e6765"
        "9468098c035f6c6f944b108c035f6869944d00028c085f696e746567657294888c045f646c6f948c07646563696d616c"
        "948c07446563696d616c9493948c02313694859452948c035f64719468168c02313694859452948c065f6b5f6d617894"
        "4b1f75622e"),
    (('loguniform', [0.0001, 0.1], None),
        "800495d7000000000000008c1268706f70742e7365617263685f7370616365948c0b5365617263685370616365949394"
        "2981947d94288c055f6e616d65944e8c045f726177948c0a6c6f67756e69666f726d945d9428473f1a36e2eb1c432d47"
        "3fb999999999999a6586948c055f747970659468078c025f71944e8c055f62617365944e8c085f63686f69636573944e"
        "8c065f72616e67659468088c035f6c6f94473f1a36e2eb1c432d8c035f686994473fb999999999999a8c075f6c6f675f"
        "6c6f9447c0226bb1bbb555158c075f6c6f675f68699447c0026bb1bbb5551575622e"),
    (('qloguniform', [0.001, 1.0, 0.001, 10], 'lr'),
        "80049545010000000000008c1268706f70742e7365617263685f7370616365948c0b5365617263685370616365949394"
        "2981947d94288c055f6e616d65948c026c72948c045f726177948c0b716c6f67756e69666f726d945d9428473f50624d"
        "d2f1a9fc473ff0000000000000473f50624dd2f1a9fc4b0a6586948c055f747970659468088c025f7194473f50624dd2"
        "f1a9fc8c055f62617365944b0a8c085f63686f69636573944e8c065f72616e67659468098c035f6c6f94473f50624dd2"
        "f1a9fc8c035f686994473ff00000000000008c075f6c6f675f6c6f9447c01ba18a998fffa08c085f696e746567657294"
        "898c045f646c6f948c07646563696d616c948c07446563696d616c9493948c05302e30303194859452948c035f647194"
        "68178c05302e30303194859452948c065f6b5f6d6178944de7038c075f6c6f675f68699447000000000000000075622e"),
    (('choice', ['adam', 1, 1.0, True, None, [1, {'a': 2}]], None),
        "80049537010000000000008c1268706f70742e7365617263685f7370616365948c0b5365617263685370616365949394"
        "2981947d94288c055f6e616d65944e8c045f726177948c0663686f696365945d94288c046164616d944b01473ff00000"
        "00000000884e5d94284b017d948c0161944b0273656586948c055f747970659468078c025f71944e8c055f6261736594"
        "4e8c085f63686f696365739468088c065f696e646578947d94288c0373747294680986944b008c03696e74944b018694"
        "4b018c05666c6f617494473ff000000000000086944b028c04626f6f6c948886944b038c084e6f6e6554797065944e86"
        "944b048c046c697374948c03696e74944b0186948c046469637494680c8c03696e74944b028694869485948694869486"
        "944b05758c065f72616e67659468088c035f6c6f944b008c035f6869944b0575622e"),
]


@pytest.mark.parametrize(("definition", "hex_bytes"), OLD_PICKLES, ids=[d[0] for d, _ in OLD_PICKLES])
def test_pickle_bytes_are_unchanged(definition, hex_bytes):
    kind, rng, name = definition
    assert pickle.dumps(SearchSpace(kind, rng, name=name), protocol=4).hex() == hex_bytes


@pytest.mark.parametrize(("definition", "hex_bytes"), OLD_PICKLES, ids=[d[0] for d, _ in OLD_PICKLES])
def test_old_pickles_load_and_behave_the_same(definition, hex_bytes):
    kind, rng, name = definition
    fresh = SearchSpace(kind, rng, name=name)
    loaded = pickle.loads(bytes.fromhex(hex_bytes))
    assert loaded == fresh and repr(loaded) == repr(fresh) and loaded.name == name
    us = np.linspace(0.0, 1.0, 41)
    assert [loaded.decode(u) for u in us] == [fresh.decode(u) for u in us]
    g1, g2 = np.random.default_rng(3), np.random.default_rng(3)
    assert [loaded.sample(g1) for _ in range(20)] == [fresh.sample(g2) for _ in range(20)]
    values = [fresh.decode(u) for u in us]
    assert [loaded.encode(v) for v in values] == [fresh.encode(v) for v in values]
    edges = fresh.cell_edges()
    assert (loaded.cell_edges() is None) if edges is None else np.array_equal(loaded.cell_edges(), edges)


def test_a_pickled_space_keeps_its_checks():
    """The state is re-checked on load, so a pickle cannot smuggle in a range the constructor refuses."""
    state = SearchSpace("uniform", [0, 1]).__getstate__()
    state["_range"] = [1, 0]
    with pytest.raises(ValueError, match="must be less than upper bound"):
        SearchSpace.__new__(SearchSpace).__setstate__(state)
