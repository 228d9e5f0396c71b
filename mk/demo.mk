# demo.mk — `make demo`: install what is missing, build, run the default
# experiment (experiments/ws_limits.lua) at several working-set maxima into
# one results database, show what it found, and plot it (results/demo.png,
# through gnuplot).

DEMO_DB  := results/demo.db
DEMO_EXP := experiments/ws_limits.lua
DEMO_WS  := 64 128 256 512 1024 2048 4096
DEMO_SQL := SELECT json_extract(params_json, '$$.ws_max') AS ws_max, \
  json_extract(metrics_json, '$$.hard_faults') AS hard_faults, \
  json_extract(metrics_json, '$$.soft_faults') AS soft_faults, \
  round(json_extract(metrics_json, '$$.hit_ratio'), 3) AS hit_ratio \
  FROM run_summary WHERE status = 'ok' ORDER BY ws_max
DEMO_PNG := results/demo.png
DEMO_TRY := SELECT param_value AS ws_max, value AS hard_faults FROM param_metric \
  WHERE param = 'ws_max' AND metric = 'hard_faults' ORDER BY param_num

demo:
	@scripts/deps.sh build
	@$(MAKE) --no-print-directory all
	@rm -f $(DEMO_DB) $(DEMO_DB)-wal $(DEMO_DB)-shm
	@echo
	@echo "== $(DEMO_EXP): one zipf process, 32 MiB region, 16 MiB RAM, 1e6 references"
	@for ws in $(DEMO_WS); do \
	  printf '   ws_max=%-5s ' $$ws; \
	  $(EXE) run $(DEMO_EXP) -p ws_max=$$ws --db $(DEMO_DB) --quiet || exit 1; \
	  echo done; \
	done
	@echo
	@echo "== hard and soft faults vs working-set maximum (pages)"
	@$(EXE) query $(DEMO_DB) "$(DEMO_SQL)"
	@echo
	@echo "A small working set turns misses into soft faults (the trimmed page still"
	@echo "waits on the standby list); hard faults depend mostly on RAM."
	@echo
	@echo "== plot: hard and soft faults vs working-set maximum"
	@$(EXE) plot $(DEMO_DB) --x ws_max --y hard_faults,soft_faults --logx -o $(DEMO_PNG) \
	  || echo "   (no figure: the line above says why)"
	@echo
	@echo "database: $(DEMO_DB)   (tables and views: docs/results.md)"
	@echo "figure:   $(DEMO_PNG)   (to restyle it: cd results && gnuplot demo.gp)"
	@echo "try:      $(EXE) query $(DEMO_DB) \"$(DEMO_TRY)\""
	@echo "sweeps:   docs/sweeps.md (pagelab sweep, merge, plot, show)"
