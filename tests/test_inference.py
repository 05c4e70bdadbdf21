import numpy as np
import pytest

from kiosk.inference import InferenceError, TFLiteModel, _Quant


def test_int8_quantization_round_trip():
    q = _Quant(scale=0.05, zero_point=-3, dtype=np.dtype(np.int8))
    x = np.array([-6.0, -1.0, 0.0, 0.52, 5.0, 100.0], np.float32)
    codes = q.quantize(x)
    assert codes.dtype == np.int8
    assert codes[-1] == 127  # saturates instead of wrapping
    np.testing.assert_allclose(q.dequantize(codes)[:-1], x[:-1], atol=0.026)


def test_uint8_quantization_uses_its_own_range():
    q = _Quant(scale=1 / 255, zero_point=0, dtype=np.dtype(np.uint8))
    assert q.quantize(np.array([-1.0, 0.5, 2.0])).tolist() == [0, 128, 255]


def test_missing_and_corrupt_models_name_the_file(tmp_path):
    with pytest.raises(InferenceError, match="absent.tflite: model file not found"):
        TFLiteModel(tmp_path / "absent.tflite")
    bad = tmp_path / "bad.tflite"
    bad.write_bytes(b"garbage")
    with pytest.raises(InferenceError, match="bad.tflite: not a loadable TFLite model"):
        TFLiteModel(bad)


def test_edgetpu_request_without_the_library_fails_clearly():
    from kiosk.detection import default_model_path

    with pytest.raises(InferenceError, match="libedgetpu.so.1"):
        TFLiteModel(default_model_path(), edgetpu=True)


def test_a_full_int8_model_takes_and_returns_floats(tmp_path):
    tf = pytest.importorskip("tensorflow", reason="building an int8 test model needs the trainer extra")

    inputs = tf.keras.Input((4,), batch_size=1)
    outputs = tf.keras.layers.Dense(3, kernel_initializer=tf.keras.initializers.Constant(0.25))(inputs)
    model = tf.keras.Model(inputs, outputs)
    converter = tf.lite.TFLiteConverter.from_keras_model(model)
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    converter.representative_dataset = lambda: ([np.random.uniform(-1, 1, (1, 4)).astype(np.float32)] for _ in range(50))
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    converter.inference_input_type = tf.int8
    converter.inference_output_type = tf.int8
    path = tmp_path / "int8.tflite"
    path.write_bytes(converter.convert())

    m = TFLiteModel(path)
    assert m.is_quantized
    x = np.array([[0.5, -0.25, 1.0, 0.0]], np.float32)
    (y,) = m.run(x)
    assert y.dtype == np.float32
    np.testing.assert_allclose(y, np.full((1, 3), 0.3125), atol=0.03)
