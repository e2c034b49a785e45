"""The method registry (`mmae.methods`): names, families, one-line errors, and the engines reading
every method from it."""
import dataclasses

import pytest

from mmae import methods
from mmae.engine import pretrain, siamese


def test_the_registry_holds_every_method_once_by_family():
    assert methods.MIM == ("mae", "umae", "mmae")
    assert set(methods.SIAMESE) >= {"simclr", "spectral", "barlow", "byol"}
    assert set(methods.REGISTRY) == set(methods.MIM) | set(methods.SIAMESE)
    assert all(methods.get(n).name == n and methods.LABELS[n] for n in methods.REGISTRY)
    # the engines train exactly their family
    assert pretrain.METHODS == methods.MIM and siamese.METHODS == methods.SIAMESE


@pytest.mark.parametrize("name, family", [("moco", None), ("simclr", "mim"), ("mmae", "siamese")])
def test_an_unknown_method_is_one_line_naming_the_known_ones(name, family):
    with pytest.raises(ValueError) as e:
        methods.get(name, family)
    msg = str(e.value)
    assert "\n" not in msg and repr(name) in msg
    assert all(n in msg for n in methods.names(family))


@pytest.mark.parametrize("main, method", [(pretrain.main, "simclr"), (siamese.main, "mae"), (siamese.main, "moco")])
def test_the_command_line_refuses_a_method_of_another_engine_with_exit_2(main, method, tmp_path, capsys):
    assert main(["--mini", "--method", method, "--out", str(tmp_path / "r")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "unknown method" in err and method in err


def test_every_hyper_parameter_is_a_field_of_its_engine_with_its_default():
    for family, cls in (("mim", pretrain.PretrainConfig), ("siamese", siamese.SiameseConfig)):
        fields = {f.name for f in dataclasses.fields(cls)}
        for name in methods.names(family):
            for f in dataclasses.fields(methods.get(name).Params):
                assert f.name in fields
    cfg = pretrain.PretrainConfig.mini()
    assert (cfg.lam, cfg.mu, cfg.tau) == (methods.mmae.Params().lam, methods.mmae.Params().mu, methods.umae.Params().tau)
    # the Siamese fields left at None take the method's default, whatever the method
    for name in methods.SIAMESE:
        c = siamese.recipe(name, "cifar10")
        for n, d in methods.param_defaults("siamese").items():
            assert getattr(c, n) == methods.get(name).RECIPES["cifar"].get(n, d)


def test_a_bad_hyper_parameter_names_its_field():
    with pytest.raises(ValueError, match="mu"):
        pretrain.PretrainConfig.mini(method="mmae", mu=-1.0)
    with pytest.raises(ValueError, match="byol_momentum"):
        siamese.recipe("byol", "digits", byol_momentum=1.5)
