# stats.awk: what the bench reports (bench/*/run.sh) share. Input: results.tsv lines
# "round <TAB> config <TAB> workload <TAB> key <TAB> value".
function median(list,   n, a, i, j, t) {
	n = split(list, a, " ")
	if (n == 0) return ""
	for (i = 2; i <= n; i++) { t = a[i] + 0; for (j = i - 1; j >= 1 && a[j] + 0 > t; j--) a[j + 1] = a[j]; a[j + 1] = t }
	return (n % 2) ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
}
function add(k, v) { L[k] = (k in L) ? L[k] " " v : v }
{ V[$1, $2, $3, $4] = $5; add($2 SUBSEP $3 SUBSEP $4, $5); R[$1] = 1 }
# median over rounds of config c, workload w, key k
function med(c, w, k) { return ((c SUBSEP w SUBSEP k) in L) ? median(L[c, w, k]) : "" }
# median of the per-round ratios c / none
function ratio(c, w, k,   r, lst) {
	lst = ""
	for (r in R) if (((r, c, w, k) in V) && ((r, "none", w, k) in V) && V[r, "none", w, k] > 0)
		lst = lst " " V[r, c, w, k] / V[r, "none", w, k]
	return median(lst)
}
function sum(c, w, k,   n, a, i, s) { n = split(L[c, w, k], a, " "); s = 0; for (i = 1; i <= n; i++) s += a[i]; return s }
