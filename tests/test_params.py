import shutil

import pytest

import kit
from kit import config
from kit.params import ParamsError


@pytest.fixture()
def params_dir(tmp_path):
    folder = tmp_path / "params"
    shutil.copytree(config.PARAMS_DIR, folder)
    return folder


def test_every_committed_quarter_loads():
    files = sorted(config.PARAMS_DIR.glob("20*.yaml"))
    assert files, "no quarter files"
    for path in files:
        p = kit.params.load(path.stem)
        assert p.quarter == path.stem and p.period == kit.Quarter(path.stem)
        assert p.timezone == "Asia/Shanghai"
        assert p.paid_channels and all(c in p.channels for c in p.paid_channels)


def test_quarter_file_overrides_defaults_deeply(params_dir):
    (params_dir / "2025Q4.yaml").write_text('quarter: "2025Q4"\nchannels:\n  douyin: {target_roas: 4.5}\nab: {alpha: 0.01}\n')
    p = kit.params.load("2025Q4", params_dir)
    assert p.channels["douyin"].target_roas == 4.5 and p.channels["douyin"].paid is True
    assert p.ab.alpha == 0.01 and p.ab.correction == "holm"


def test_missing_quarter_file_means_defaults(params_dir):
    p = kit.params.load("2031Q2", params_dir)
    assert p.quarter == "2031Q2" and p.targets.gmv is None


def test_overrides_apply_last():
    assert kit.params.load("2025Q4", source="some/folder").source == "some/folder"


def _error(params_dir, text, quarter="2025Q4"):
    (params_dir / f"{quarter}.yaml").write_text(text)
    with pytest.raises(ParamsError) as error:
        kit.params.load(quarter, params_dir)
    return str(error.value)


def test_unknown_key_names_file_and_key(params_dir):
    message = _error(params_dir, 'quarter: "2025Q4"\ntargets: {gmv: 1.0e6, gmv_target: 2}\n')
    assert "2025Q4.yaml: key 'targets.gmv_target'" in message and "Extra inputs are not permitted" in message


def test_unknown_key_in_defaults_names_defaults(params_dir):
    defaults = params_dir / "defaults.yaml"
    defaults.write_text(defaults.read_text() + "\ncolour: blue\n")
    message = _error(params_dir, 'quarter: "2025Q4"\n')
    assert "defaults.yaml: key 'colour'" in message


def test_wrong_type(params_dir):
    message = _error(params_dir, 'quarter: "2025Q4"\nab: {alpha: "five percent"}\n')
    assert "2025Q4.yaml: key 'ab.alpha'" in message and "'five percent'" in message


def test_yaml_no_stays_a_string_and_is_rejected_where_a_word_is_expected(params_dir):
    # YAML 1.1 would read NO as False; here it stays "NO" and fails the allowed values clearly
    message = _error(params_dir, 'quarter: "2025Q4"\ngmv_basis: NO\n')
    assert "key 'gmv_basis'" in message and "'NO'" in message


def test_yaml_number_is_not_taken_for_a_name(params_dir):
    message = _error(params_dir, 'quarter: "2025Q4"\nchannels:\n  douyin: {name: 1.10}\n')
    assert "key 'channels.douyin.name'" in message and "1.1" in message


def test_yaml_date_stays_text(params_dir):
    (params_dir / "2025Q4.yaml").write_text('quarter: "2025Q4"\npromo: {promotions: [2025-11-11]}\n')
    assert kit.params.load("2025Q4", params_dir).promo.promotions == ["2025-11-11"]


def test_bad_quarter_string_and_mismatch(params_dir):
    with pytest.raises(ValueError, match="2025Q4"):
        kit.params.load("2025-4", params_dir)
    message = _error(params_dir, 'quarter: "2025Q3"\n')
    assert "2025Q4.yaml" in message and "2025Q3" in message


def test_unquoted_bad_quarter_in_file(params_dir):
    (params_dir / "2025Q4.yaml").write_text("quarter: 2025Q4\ntimezone: Mars/Olympus\n")
    with pytest.raises(ParamsError, match=r"2025Q4.yaml: key 'timezone'.*unknown time zone"):
        kit.params.load("2025Q4", params_dir)


def test_not_a_mapping_and_bad_yaml(params_dir):
    assert "top level must be a mapping" in _error(params_dir, "- a\n- b\n")
    assert "not valid YAML" in _error(params_dir, "quarter: [unclosed\n")
