"""Keras side of benchmarks/compare-keras.ts: the same transfer-learning task in Keras.

It reads the data that a retrain run stored (augmented training copies, validation and test as
.npy shards) and the same pretrained MobileNetV2 weights, then follows the Keras guide: a frozen
base called with training=False, a new head (global average pooling, dropout, dense logits), head
training, fine-tuning of the whole base with Adam(1e-5), and evaluation on the test split.
It prints one JSON object with timings, throughput, peak memory and test accuracy.
"""

import json
import os
import resource
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
import keras  # noqa: E402


def load_group(shards):
    images = np.concatenate([np.load(shard["images"]) for shard in shards])
    labels = np.concatenate([np.load(shard["labels"]) for shard in shards])
    return images.astype("float32"), labels.astype("float32")


def main(spec_path):
    with open(spec_path) as file:
        spec = json.load(file)
    height, width = spec["height"], spec["width"]
    copies = [load_group(shards) for shards in spec["trainCopies"]]
    x_val, y_val = load_group(spec["validation"])
    x_test, y_test = load_group(spec["test"])

    base = keras.applications.MobileNetV2(input_shape=(height, width, 3), include_top=False, weights=None)
    for layer in base.layers:
        files = spec["baseWeights"].get(layer.name)
        if files:
            layer.set_weights([np.load(path) for path in files])
    base.trainable = False

    inputs = keras.Input(shape=(height, width, 3))
    x = keras.layers.Rescaling(spec["scale"], offset=spec["offset"])(inputs)
    x = base(x, training=False)
    x = keras.layers.GlobalAveragePooling2D()(x)
    x = keras.layers.Dropout(spec["dropout"])(x)
    outputs = keras.layers.Dense(1)(x)
    model = keras.Model(inputs, outputs)

    extractor = keras.Sequential([keras.Input(shape=(height, width, 3)), keras.layers.Rescaling(spec["scale"], offset=spec["offset"]), base, keras.layers.GlobalAveragePooling2D()])
    started = time.perf_counter()
    extracted = 0
    for images, _ in copies + [(x_val, y_val)]:
        extractor.predict(images, batch_size=64, verbose=0)
        extracted += len(images)
    feature_seconds = time.perf_counter() - started

    def train(epochs, learning_rate):
        model.compile(
            optimizer=keras.optimizers.Adam(learning_rate),
            loss=keras.losses.BinaryCrossentropy(from_logits=True),
            metrics=[keras.metrics.BinaryAccuracy()],
        )
        seconds = 0.0
        images_seen = 0
        for epoch in range(epochs):
            x_train, y_train = copies[epoch % len(copies)]
            started = time.perf_counter()
            model.fit(x_train, y_train, batch_size=spec["batchSize"], epochs=1, verbose=0)
            seconds += time.perf_counter() - started
            images_seen += len(x_train)
            model.evaluate(x_val, y_val, batch_size=64, verbose=0)
        return seconds, images_seen

    head_seconds, head_images = train(spec["headEpochs"], spec["headLearningRate"])
    base.trainable = True
    fine_seconds, fine_images = train(spec["fineTuneEpochs"], spec["fineTuneLearningRate"])
    loss, accuracy = model.evaluate(x_test, y_test, batch_size=64, verbose=0)

    print(json.dumps({
        "keras": keras.__version__,
        "featureExtraction": {"seconds": feature_seconds, "imagesPerSecond": extracted / feature_seconds},
        "headTraining": {"seconds": head_seconds, "imagesPerSecond": head_images / head_seconds},
        "fineTuning": {"seconds": fine_seconds, "imagesPerSecond": fine_images / fine_seconds},
        "testAccuracy": accuracy,
        "testLoss": loss,
        "peakMemoryMiB": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }))


if __name__ == "__main__":
    main(sys.argv[1])
