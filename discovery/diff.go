package discovery

// Diff compares two lists of instances sorted by ID, as Snapshots hold
// them, and returns the instances only in next (added), only in prev
// (removed), and in both with a different value (changed, as in next).
func Diff(prev, next []Instance) (added, removed, changed []Instance) {
	i, j := 0, 0
	for i < len(prev) || j < len(next) {
		switch {
		case j == len(next) || (i < len(prev) && prev[i].ID < next[j].ID):
			removed = append(removed, prev[i])
			i++
		case i == len(prev) || next[j].ID < prev[i].ID:
			added = append(added, next[j])
			j++
		default:
			if !equalInstance(prev[i], next[j]) {
				changed = append(changed, next[j])
			}
			i++
			j++
		}
	}
	return added, removed, changed
}
