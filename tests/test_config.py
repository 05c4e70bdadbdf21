from pathlib import Path

import pytest

from kiosk.config import BUNDLED_MODEL, Config, ConfigError, load_config


def test_defaults_work_without_a_file():
    config = load_config(None)
    assert config == Config()
    assert config.model.file == BUNDLED_MODEL and config.camera.source == "auto"


def test_the_fast_model_is_one_setting_away(tmp_path):
    path = tmp_path / "kiosk.toml"
    path.write_text('[model]\nbundled = "fast"\n')
    assert load_config(path).model.file.name == "fast_embedding_int8.tflite" and load_config(path).model.file.is_file()
    path.write_text('[model]\nbundled = "tiny"\n')
    with pytest.raises(ConfigError, match="model.bundled: must be one of default, fast"):
        load_config(path)


def test_a_file_overrides_only_what_it_names(tmp_path):
    path = tmp_path / "kiosk.toml"
    path.write_text('[camera]\nsource = "usb"\ndevice = 1\n[model]\nthreshold = 0.5\npath = "/opt/m.tflite"\n')
    config = load_config(path)
    assert (config.camera.source, config.camera.device, config.camera.fps) == ("usb", 1, 15.0)
    assert config.model.threshold == 0.5 and config.model.file == Path("/opt/m.tflite")


@pytest.mark.parametrize(
    "text,needle",
    [
        ("[camra]\nsource = 'usb'\n", "unknown section [camra]"),
        ("[camera]\nsorce = 'usb'\n", "camera.sorce: unknown key"),
        ("[camera]\nsource = 'webcam'\n", "camera.source: must be one of"),
        ("[camera]\nfps = 'fast'\n", "camera.fps: expected a number"),
        ("[camera]\ndevice = 1.5\n", "camera.device: expected a whole number"),
        ("[model]\nedgetpu = 'yes'\n", "model.edgetpu: expected true or false"),
        ("[web]\nport = 0\n", "web.port: must be at least 1, got 0"),
        ("[web]\nport = 70000\n", "web.port: must be at most 65535, got 70000"),
        ("[attendance]\ncooldown_seconds = -5\n", "attendance.cooldown_seconds: must be at least 0"),
        ("[recognition]\nmargin_fraction = -0.1\n", "recognition.margin_fraction: must be at least 0"),
        ("[camera]\nfps = nan\n", "camera.fps: expected a finite number"),
        ("[quality]\nmin_brightness = 220\nmax_brightness = 200\n", "min_brightness (220.0) must be below max_brightness"),
        ("[kiosk]\nid = ''\n", "kiosk.id: must not be empty"),
        ("[kiosk]\nid = 'front door'\n", "kiosk.id: 'front door' is not in the expected form"),
        ("[camera]\nsource = 'replay'\n", "camera.replay_path is empty"),
        ("[attendance]\nday_start = '4am'\n", "a time such as 04:00"),
        ("[attendance]\ntimezone = 'Mars/Olympus'\n", "unknown time zone 'Mars/Olympus'"),
        ("[web]\ntls_cert = '/etc/cert.pem'\n", "tls_cert and web.tls_key go together"),
        ("[quality]\nfair_max_yaw = 0.2\n", "fair_max_yaw (0.2) must be more lenient than quality.max_yaw"),
        ("[model]\nthreshold = 2.5\n", "model.threshold: must be less than 2, got 2.5"),
        ("[recognition]\nframes_needed = 6\nframes_window = 5\n", "frames_needed (6) exceeds frames_window (5)"),
        ("camera = 3\n", "[camera] must be a table"),
        ("[camera\n", "not valid TOML"),
        (
            "[fleet]\ndatabase_url = 'mysql://kiosk:s3cret@db/kiosk'\n",
            "fleet.database_url: the value is not in the expected form",
        ),
        ("[fleet]\nsync_seconds = 0\n", "fleet.sync_seconds: must be greater than 0"),
    ],
)
def test_bad_configs_name_the_file_and_the_key(tmp_path, text, needle):
    path = tmp_path / "kiosk.toml"
    path.write_text(text)
    with pytest.raises(ConfigError) as err:
        load_config(path)
    assert str(path) in str(err.value) and needle in str(err.value)
    assert "s3cret" not in str(err.value)


def test_missing_file(tmp_path):
    with pytest.raises(ConfigError, match="config file not found"):
        load_config(tmp_path / "nope.toml")


# Each kind of mistake, with the whole message: the file, the key, what is allowed and what was given.
@pytest.mark.parametrize(
    "text,message",
    [
        (
            "[camera]\nsorce = 'usb'\n",
            "camera.sorce: unknown key (known: source, device, replay_path, loop, width, height, fps, "
            "unhealthy_after_seconds); did you mean 'source'?",
        ),
        (
            "[camra]\n",
            "unknown section [camra] (known: kiosk, camera, model, recognition, quality, attendance, display, web, "
            "fleet, liveness, payroll, metrics, api, webhooks, mqtt); did you mean 'camera'?",
        ),
        ("[recognition]\nframes_needed = 31\n", "recognition.frames_needed: must be at most 30, got 31"),
        ('[liveness]\nmode = "on"\n', "liveness.mode: must be one of off, passive, challenge, got 'on'"),
        ('[metrics]\nscrape_from = ["prometheus"]\n', "metrics.scrape_from: 'prometheus' is not an address or network"),
        (
            '[webhooks]\nurls = ["ftp://files.example/x"]\n',
            "webhooks.urls: 'ftp://files.example/x' is not an http:// or https:// URL",
        ),
        ('[webhooks]\nurls = ["https://chat.example/hook"]\n', "webhooks.secret_file: required with webhooks.urls"),
        ("[mqtt]\ntopic = 'front door'\n", "mqtt.topic: 'front door' is not in the expected form"),
        ("[camera]\nfps = 0\n", "camera.fps: must be greater than 0, got 0"),
        ("[camera]\nfps = 'fast'\n", "camera.fps: expected a number, got 'fast'"),
        ("[camera]\nwidth = 640.0\n", "camera.width: expected a whole number, got 640.0"),
        ("[camera]\nloop = 1\n", "camera.loop: expected true or false, got 1"),
        ("[camera]\nreplay_path = 3\n", "camera.replay_path: expected a string, got 3"),
        ("[model]\npath = ''\n", "model.path: expected a path, got ''"),
        ("[camera]\nsource = 'webcam'\n", "camera.source: must be one of auto, picamera, usb, replay, none, got 'webcam'"),
        ("[attendance]\nday_start = '4am'\n", "attendance.day_start: '4am' is not in the expected form (a time such as 04:00)"),
        ('[attendance]\nexpected_start = "08:30\\n"\n', "attendance.expected_start: '08:30\\n' is not in the expected form"),
        (
            '[fleet]\nsite = "Back door\\nLeeds"\n',
            "fleet.site: 'Back door\\nLeeds' is not in the expected form (at most 80 characters",
        ),
        ("[web]\nhost = '  '\n", "web.host: must not be empty"),
    ],
)
def test_each_kind_of_mistake_has_its_own_message(tmp_path, text, message):
    path = tmp_path / "kiosk.toml"
    path.write_text(text)
    with pytest.raises(ConfigError) as err:
        load_config(path)
    assert str(err.value).startswith(f"{path}: {message}")


def test_every_mistake_in_a_file_is_reported_at_once(tmp_path):
    path = tmp_path / "kiosk.toml"
    path.write_text("[web]\nport = 0\n[camera]\nfps = 'x'\n")
    with pytest.raises(ConfigError) as err:
        load_config(path)
    assert str(err.value).splitlines() == [
        f"{path}: camera.fps: expected a number, got 'x'",
        f"{path}: web.port: must be at least 1, got 0",
    ]


def test_a_secret_never_appears_whatever_the_mistake(tmp_path):
    path = tmp_path / "kiosk.toml"
    path.write_text("[fleet]\ndatabase_url = 'postgresql://kiosk:s3cret@db/kiosk with a space'\n")
    with pytest.raises(ConfigError) as err:
        load_config(path)
    assert "fleet.database_url: the value is not in the expected form" in str(err.value) and "s3cret" not in str(err.value)
    path.write_text("[fleet]\ndatabase_url = 'postgresql://kiosk:s3cret@db/kiosk'\n")
    assert "s3cret" not in repr(load_config(path))


def test_files_that_are_not_toml_are_named(tmp_path):
    path = tmp_path / "kiosk.toml"
    path.write_bytes(b"[kiosk]\nid = '\xff'\n")
    with pytest.raises(ConfigError, match=r"kiosk\.toml: line 2 is not UTF-8 text; save the file as UTF-8"):
        load_config(path)
    path.write_text("[kiosk]\nid = kiosk-1\n")
    with pytest.raises(ConfigError) as err:
        load_config(path)
    assert str(err.value).startswith(f"{path}: not valid TOML (")
    with pytest.raises(ConfigError, match="is a folder, not a config file"):
        load_config(tmp_path)


def test_settings_are_built_by_keyword_and_cannot_change(tmp_path):
    from kiosk.config import KioskSettings, RecognitionSettings

    config = Config(kiosk=KioskSettings(data_dir=tmp_path), recognition=RecognitionSettings(frames_needed=2))
    assert config.kiosk.data_dir == tmp_path and config.recognition.frames_needed == 2 and config.camera.fps == 15.0
    with pytest.raises(ValueError):
        config.recognition.frames_needed = 4
    with pytest.raises(ValueError, match="frames_needed"):
        RecognitionSettings(frames_needed=6)  # the rules hold for settings made in code too
    usb = config.model_copy(update={"camera": config.camera.model_copy(update={"source": "usb"})})
    assert usb.camera.source == "usb" and config.camera.source == "auto"


def test_a_path_may_start_at_home(tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path))
    path = tmp_path / "kiosk.toml"
    path.write_text("[kiosk]\ndata_dir = '~/kiosk'\n")
    assert load_config(path).kiosk.data_dir == tmp_path / "kiosk"


def test_the_bundled_choices_are_the_bundled_models():
    import typing

    from kiosk.config import BUNDLED_MODELS, ModelSettings

    assert typing.get_args(ModelSettings.model_fields["bundled"].annotation) == tuple(BUNDLED_MODELS)
