# The two commands a newcomer needs: `make run` and `make test`. Everything else is here
# for convenience. Builds use Ninja with -j2 (two cores); the build directory is ./build.
BUILD     ?= build
BUILD_SAN ?= build-asan
JOBS      ?= 2
CMAKE_ARGS ?=

.PHONY: all deps build run test test-asan asan bench bench-smtp bench-imap fuzz clean

all: build

deps:
	@bash scripts/deps.sh

$(BUILD)/build.ninja: | deps
	cmake -S . -B $(BUILD) -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo $(CMAKE_ARGS)

build: deps $(BUILD)/build.ninja
	cmake --build $(BUILD) -j $(JOBS)

# Build, then start caremaild in the foreground with embedded storage under ./var and a
# first national administrator (printed on first start). Ctrl-C stops it cleanly.
run: build
	@bash scripts/run.sh $(BUILD)

# Build, then every test: unit (GoogleTest), integration (real clients), crash test,
# and the same suites again under AddressSanitizer + UndefinedBehaviorSanitizer.
test: build
	cd $(BUILD) && ctest --output-on-failure -j $(JOBS) --timeout 900
	$(MAKE) test-asan

$(BUILD_SAN)/build.ninja: | deps
	cmake -S . -B $(BUILD_SAN) -G Ninja -DCMAKE_BUILD_TYPE=Debug -DCAREMAIL_SANITIZE=ON $(CMAKE_ARGS)

asan: deps $(BUILD_SAN)/build.ninja
	cmake --build $(BUILD_SAN) -j $(JOBS)

test-asan: asan
	cd $(BUILD_SAN) && ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
	  ctest --output-on-failure -j $(JOBS) --timeout 900 -LE "bench-smoke|imaptest"

bench: build
	bash bench/run.sh $(BUILD)

# SMTP: Caremail vs Postfix -> LMTP -> Dovecot in one run (root; about 15 minutes).
bench-smtp: build
	python3 bench/smtp_bench.py $(BUILD)

# IMAP: Caremail vs Dovecot (mixed profile) and the memory of 10,000 IDLE connections
# (root; about 30 minutes, most of it the 10,000 argon2id logins).
bench-imap: build
	python3 bench/imap_bench.py $(BUILD)

fuzz: deps
	cmake -S . -B build-fuzz -G Ninja -DCMAKE_C_COMPILER=clang -DCMAKE_CXX_COMPILER=clang++ \
	  -DCAREMAIL_FUZZ=ON -DCAREMAIL_SANITIZE=ON -DCMAKE_BUILD_TYPE=Debug
	cmake --build build-fuzz -j $(JOBS) --target fuzz_all

clean:
	rm -rf $(BUILD) $(BUILD_SAN) build-fuzz
