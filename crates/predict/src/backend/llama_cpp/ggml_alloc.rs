//! ggml's graph allocator (`ggml-alloc.c`), replayed: where each tensor of a compute graph
//! lands in a backend's compute buffer, and how large that buffer grows.
//!
//! The engine lays a graph out once for the worst case it reserves, then runs smaller graphs
//! of the same shape in that layout (each tensor at its reserved offset). What a run touches
//! is then the union of the tensors' actual extents at those offsets, which grows with the
//! number of blocks a buffer serves as the free list fragments (measured on RPC workers).
//! This module reproduces the allocator's decisions for a list of tensors in graph order:
//! best fit among the free blocks other than the last, the last block (the growing tail)
//! otherwise; a node reuses its single-use parent's memory when its operation can run in
//! place; a tensor is freed when its last consumer has run; inputs are placed first.

/// One tensor of a graph, in the order ggml visits it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tensor {
    /// Bytes of its data.
    pub bytes: u64,
    /// Indices of the tensors it reads (earlier in the list).
    pub srcs: Vec<usize>,
    /// The tensor it is a view of (a reshape or permute: no memory of its own).
    pub view_of: Option<usize>,
    /// Whether its operation may overwrite a parent of the same size (ggml's
    /// `ggml_op_can_inplace`: add, mul, norms, rope, softmax, scale, unary).
    pub inplace: bool,
    /// Whether it is a graph input (allocated before any node).
    pub input: bool,
    /// Whether it is a graph output (never freed: results, pipeline copies of inputs).
    pub output: bool,
    /// Whether its memory lies outside this buffer (weights, the KV cache, other devices).
    pub external: bool,
}

impl Tensor {
    /// A tensor computed into this buffer.
    pub fn node(bytes: u64, srcs: Vec<usize>, inplace: bool) -> Tensor {
        Tensor {
            bytes,
            srcs,
            view_of: None,
            inplace,
            input: false,
            output: false,
            external: false,
        }
    }

    /// A view of tensor `of` (its srcs are `of`).
    pub fn view(of: usize, bytes: u64) -> Tensor {
        Tensor {
            view_of: Some(of),
            ..Tensor::node(bytes, vec![of], false)
        }
    }

    /// A tensor whose memory is elsewhere (a weight, a KV cache view), reading `srcs`.
    pub fn external(srcs: Vec<usize>) -> Tensor {
        Tensor {
            external: true,
            ..Tensor::node(0, srcs, false)
        }
    }

    /// A graph input of `bytes` (`output`: kept to the end, as a pipeline copy is).
    pub fn input(bytes: u64, output: bool) -> Tensor {
        Tensor {
            input: true,
            output,
            ..Tensor::node(bytes, Vec::new(), false)
        }
    }
}

/// Where the allocator put a graph's tensors.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Layout {
    /// The buffer's size: the highest end of any tensor placed.
    pub size: u64,
    /// Offset of each tensor that owns memory here (`None`: a view, external, or empty).
    pub offsets: Vec<Option<u64>>,
}

impl Layout {
    /// Bytes of `page`-sized pages written when each tensor `i` holds `bytes(i)` bytes at
    /// its offset (a graph of the same shape run in this layout).
    pub fn touched(&self, bytes: impl Fn(usize) -> u64, page: u64) -> u64 {
        let page = page.max(1);
        let mut spans: Vec<(u64, u64)> = self
            .offsets
            .iter()
            .enumerate()
            .filter_map(|(i, o)| {
                let b = bytes(i);
                o.filter(|_| b > 0)
                    .map(|o| (o / page, (o + b).div_ceil(page)))
            })
            .collect();
        spans.sort_unstable();
        let mut pages = 0;
        let mut end = 0;
        for (a, b) in spans {
            let a = a.max(end);
            if b > a {
                pages += b - a;
                end = b;
            }
        }
        pages * page
    }
}

/// The free list of one buffer (`ggml_dyn_tallocr`): blocks sorted by offset, the last one
/// the unbounded tail.
struct FreeList {
    blocks: Vec<(u64, u64)>,
    max: u64,
    align: u64,
}

impl FreeList {
    fn new(align: u64) -> FreeList {
        FreeList {
            blocks: vec![(0, u64::MAX / 2)],
            max: 0,
            align: align.max(1),
        }
    }

    fn aligned(&self, bytes: u64) -> u64 {
        bytes.div_ceil(self.align) * self.align
    }

    fn alloc(&mut self, bytes: u64) -> u64 {
        let size = self.aligned(bytes);
        // Best fit among all but the last block (ties go to the later block); the tail
        // otherwise.
        let last = self.blocks.len() - 1;
        let mut best = None;
        let mut best_size = u64::MAX;
        for (i, &(_, s)) in self.blocks[..last].iter().enumerate() {
            if s >= size && s <= best_size {
                best = Some(i);
                best_size = s;
            }
        }
        let i = best.unwrap_or(last);
        let off = self.blocks[i].0;
        self.blocks[i].0 += size;
        self.blocks[i].1 -= size;
        if self.blocks[i].1 == 0 {
            self.blocks.remove(i);
        }
        self.max = self.max.max(off + size);
        off
    }

    fn free(&mut self, off: u64, bytes: u64) {
        let size = self.aligned(bytes);
        for i in 0..self.blocks.len() {
            let (bo, bs) = self.blocks[i];
            if bo + bs == off {
                self.blocks[i].1 += size;
                if i + 1 < self.blocks.len() && off + size == self.blocks[i + 1].0 {
                    self.blocks[i].1 += self.blocks[i + 1].1;
                    self.blocks.remove(i + 1);
                }
                return;
            }
            if off + size == bo {
                self.blocks[i] = (off, bs + size);
                if i > 0 && self.blocks[i - 1].0 + self.blocks[i - 1].1 == off {
                    self.blocks[i - 1].1 += self.blocks[i].1;
                    self.blocks.remove(i);
                }
                return;
            }
        }
        let at = self.blocks.partition_point(|&(o, _)| o < off);
        self.blocks.insert(at, (off, size));
    }
}

/// ggml's graph allocator over one buffer (`ggml_gallocr`): the use counts of each
/// tensor, which own their memory at present, and where.
struct Gallocr<'g> {
    graph: &'g [Tensor],
    /// Consumers that have not run yet (`n_children`).
    children: Vec<u32>,
    /// Views of each tensor still alive (`n_views`).
    views: Vec<u32>,
    /// Whether the tensor holds its memory now (it may have handed it to an in-place child).
    allocated: Vec<bool>,
    offsets: Vec<Option<u64>>,
    free: FreeList,
}

impl<'g> Gallocr<'g> {
    fn new(graph: &'g [Tensor], align: u64) -> Gallocr<'g> {
        let n = graph.len();
        Gallocr {
            graph,
            children: vec![0; n],
            views: vec![0; n],
            allocated: vec![false; n],
            offsets: vec![None; n],
            free: FreeList::new(align),
        }
    }

    /// Counts every tensor's consumers and views, placing the graph inputs as they are
    /// first met (the first pass of `ggml_gallocr_alloc_graph_impl`).
    fn count_uses(&mut self) {
        let graph = self.graph;
        for (i, t) in graph.iter().enumerate() {
            if let Some(v) = t.view_of {
                self.views[v] += 1;
            }
            if t.input {
                self.allocate_node(i);
            }
            for &s in &t.srcs {
                self.children[s] += 1;
                if graph[s].input {
                    self.allocate_node(s);
                }
            }
        }
    }

    /// Places tensor `i` (`ggml_gallocr_allocate_node`): in place over a single-use parent
    /// of its size where its operation allows, else at the best free block.
    fn allocate_node(&mut self, i: usize) {
        let t = &self.graph[i];
        let owns = !t.external && t.view_of.is_none() && t.bytes > 0;
        if !owns || self.offsets[i].is_some() {
            return;
        }
        self.allocated[i] = true;
        if t.inplace {
            for &p in &t.srcs {
                let pt = &self.graph[p];
                if pt.external || pt.output || pt.bytes != t.bytes {
                    continue;
                }
                // A view is never allocated by the allocator, so ggml does not count it as
                // its own and never reuses it (traced on build 11434: "not reusing parent
                // Qcur-0 for norm-0 as (nil) is external").
                if self.children[p] != 1 || self.views[p] != 0 || pt.view_of.is_some() {
                    continue;
                }
                if let Some(o) = self.offsets[p].filter(|_| self.allocated[p]) {
                    self.offsets[i] = Some(o);
                    self.allocated[p] = false;
                    return;
                }
            }
        }
        self.offsets[i] = Some(self.free.alloc(t.bytes));
    }

    /// Frees the parents of tensor `i` whose last consumer (and last view) it was.
    fn release_parents(&mut self, i: usize) {
        let graph = self.graph;
        for &p in &graph[i].srcs {
            self.children[p] = self.children[p].saturating_sub(1);
            if self.children[p] != 0 || self.views[p] != 0 {
                continue;
            }
            let target = match graph[p].view_of {
                Some(v) => {
                    self.views[v] = self.views[v].saturating_sub(1);
                    if self.views[v] != 0 || self.children[v] != 0 {
                        continue;
                    }
                    v
                }
                None => p,
            };
            if self.allocated[target] && !graph[target].output {
                if let Some(o) = self.offsets[target] {
                    self.free.free(o, graph[target].bytes);
                }
                self.allocated[target] = false;
            }
        }
    }
}

/// Lays out `graph` (tensors in ggml's visiting order) in one buffer aligned to `align`, as
/// `ggml_gallocr_alloc_graph_impl` does: inputs first, then each node after its parents,
/// freeing a parent once its last consumer (and the last view of it) has run.
pub fn allocate(graph: &[Tensor], align: u64) -> Layout {
    let mut g = Gallocr::new(graph, align);
    g.count_uses();
    for i in 0..graph.len() {
        g.allocate_node(i);
        g.release_parents(i);
    }
    Layout {
        size: g.free.max,
        offsets: g.offsets,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_chain_reuses_freed_memory_and_in_place_ops_share_their_parent() {
        // in(100) -> a(200) -> b = a in place -> c(200) -> d(100)
        let g = vec![
            Tensor::input(100, false),
            Tensor::node(200, vec![0], false),
            Tensor::node(200, vec![1], true),
            Tensor::node(200, vec![2], false),
            Tensor::node(100, vec![3], false),
        ];
        let l = allocate(&g, 1);
        assert_eq!(l.offsets[0], Some(0));
        assert_eq!(l.offsets[1], Some(100));
        assert_eq!(l.offsets[2], Some(100), "in place over its parent");
        // The input is freed once `a` ran: c goes to the tail (the freed 100 do not fit),
        // then d fits the freed input's block.
        assert_eq!(l.offsets[3], Some(300));
        assert_eq!(l.offsets[4], Some(0));
        assert_eq!(l.size, 500);
    }

    #[test]
    fn outputs_are_never_freed_and_best_fit_picks_the_smallest_hole() {
        let g = vec![
            Tensor::input(64, true),
            Tensor::node(300, vec![0], false),
            Tensor::node(100, vec![1], false),
            Tensor::node(50, vec![2], false),
        ];
        let l = allocate(&g, 1);
        assert_eq!(l.offsets[0], Some(0));
        assert_eq!(l.offsets[1], Some(64));
        assert_eq!(l.offsets[2], Some(364));
        // `b` freed [64, 364): the 50 bytes go there, not after the input.
        assert_eq!(l.offsets[3], Some(64));
        assert_eq!(l.size, 464);
    }

    #[test]
    fn touched_pages_are_the_union_of_actual_extents() {
        let l = Layout {
            size: 3 * 4096,
            offsets: vec![Some(0), Some(4096), None, Some(100)],
        };
        // 10 bytes at 0, 4096 bytes at 4096 (one page), 200 bytes at 100 (page 0 again).
        let sizes = [10u64, 4096, 999, 200];
        assert_eq!(l.touched(|i| sizes[i], 4096), 2 * 4096);
        assert_eq!(l.touched(|_| 0, 4096), 0);
    }
}
