//! A list most items leave empty, in one word: [`List`].

use std::fmt;
use thin_vec::ThinVec;

/// A list that most items leave empty (further ids, confidentiality codes, further
/// placements, dependencies, carried codings, children): one pointer inline and nothing
/// allocated while empty, where a `Vec` is three words on every item (issue 24.12: bytes per
/// item). When it holds something its length, room and elements are one allocation (a
/// boxed `Vec` was two). Reads as a slice (`Deref`); pushes and extends like a `Vec`.
#[derive(Clone)]
pub struct List<T>(ThinVec<T>);

/// Append `x`, growing `v` from room for one by doubling (1, 2, 4, ...) where `Vec::push`
/// starts at four: the reader's lists mostly hold one or two elements, and each is made
/// exactly as long as it is when its item closes, which then costs no second allocation.
pub fn push_lean<T>(v: &mut Vec<T>, x: T) {
    if v.len() == v.capacity() {
        v.reserve_exact(v.len().max(1));
    }
    v.push(x);
}

// Equal when the elements are (an emptied list that kept its room equals an empty one).
impl<T: PartialEq> PartialEq for List<T> {
    fn eq(&self, other: &Self) -> bool {
        self.as_slice() == other.as_slice()
    }
}

impl<T: Eq> Eq for List<T> {}

impl<T> Default for List<T> {
    fn default() -> Self {
        List(ThinVec::new())
    }
}

impl<T> List<T> {
    /// An empty list (allocates nothing).
    pub const fn new() -> Self {
        List(ThinVec::new())
    }

    /// Room for `n` more elements, exactly (nothing allocated when `n` is 0).
    pub fn reserve_exact(&mut self, n: usize) {
        if n > 0 {
            self.0.reserve_exact(n);
        }
    }

    /// Append one element, growing from room for one by doubling (as [`push_lean`]).
    pub fn push(&mut self, x: T) {
        if self.0.len() == self.0.capacity() {
            self.0.reserve_exact(self.0.len().max(1));
        }
        self.0.push(x);
    }

    /// The elements, in order.
    pub fn as_slice(&self) -> &[T] {
        self.0.as_slice()
    }

    /// The elements, mutable.
    pub fn as_mut_slice(&mut self) -> &mut [T] {
        self.0.as_mut_slice()
    }

    /// Keep only the elements `keep` says.
    pub fn retain(&mut self, keep: impl FnMut(&T) -> bool) {
        self.0.retain(keep);
    }

    /// Keep only the first `len` elements.
    pub fn truncate(&mut self, len: usize) {
        self.0.truncate(len);
    }

    /// Remove every element (and give back the room).
    pub fn clear(&mut self) {
        self.0 = ThinVec::new();
    }

    /// Exactly as long as it is: an empty list holds nothing, a full one no spare room.
    pub fn shrink_to_fit(&mut self) {
        if self.0.is_empty() {
            self.0 = ThinVec::new();
        } else {
            self.0.shrink_to_fit();
        }
    }

    /// The elements as a `Vec`.
    pub fn into_vec(self) -> Vec<T> {
        self.0.into()
    }
}

impl<T: PartialEq> List<T> {
    /// Remove consecutive repeated elements.
    pub fn dedup(&mut self) {
        self.0.dedup();
    }
}

impl<T> std::ops::Deref for List<T> {
    type Target = [T];
    fn deref(&self) -> &[T] {
        self.as_slice()
    }
}

impl<T> std::ops::DerefMut for List<T> {
    fn deref_mut(&mut self) -> &mut [T] {
        self.as_mut_slice()
    }
}

impl<T: fmt::Debug> fmt::Debug for List<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.iter()).finish()
    }
}

impl<T> From<Vec<T>> for List<T> {
    fn from(v: Vec<T>) -> Self {
        List(ThinVec::from(v))
    }
}

impl<T> FromIterator<T> for List<T> {
    fn from_iter<I: IntoIterator<Item = T>>(iter: I) -> Self {
        List(iter.into_iter().collect())
    }
}

impl<T> Extend<T> for List<T> {
    fn extend<I: IntoIterator<Item = T>>(&mut self, iter: I) {
        let iter = iter.into_iter();
        // Lean from room for one, as `push` (most extends add one coding).
        let room = self.0.capacity() - self.0.len();
        self.reserve_exact(iter.size_hint().0.saturating_sub(room));
        iter.for_each(|x| self.push(x));
    }
}

impl<'a, T: Copy + 'a> Extend<&'a T> for List<T> {
    fn extend<I: IntoIterator<Item = &'a T>>(&mut self, iter: I) {
        self.extend(iter.into_iter().copied());
    }
}

impl<T> IntoIterator for List<T> {
    type Item = T;
    type IntoIter = thin_vec::IntoIter<T>;
    fn into_iter(self) -> Self::IntoIter {
        self.0.into_iter()
    }
}

impl<'a, T> IntoIterator for &'a List<T> {
    type Item = &'a T;
    type IntoIter = std::slice::Iter<'a, T>;
    fn into_iter(self) -> Self::IntoIter {
        self.as_slice().iter()
    }
}

impl<'a, T> IntoIterator for &'a mut List<T> {
    type Item = &'a mut T;
    type IntoIter = std::slice::IterMut<'a, T>;
    fn into_iter(self) -> Self::IntoIter {
        self.as_mut_slice().iter_mut()
    }
}

impl<T: PartialEq<U>, U> PartialEq<Vec<U>> for List<T> {
    fn eq(&self, other: &Vec<U>) -> bool {
        self.as_slice() == other.as_slice()
    }
}

impl<T: PartialEq<U>, U> PartialEq<[U]> for List<T> {
    fn eq(&self, other: &[U]) -> bool {
        self.as_slice() == other
    }
}

impl<T: PartialEq<U>, U, const N: usize> PartialEq<[U; N]> for List<T> {
    fn eq(&self, other: &[U; N]) -> bool {
        self.as_slice() == other.as_slice()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A lean push keeps every element in order and grows the room 1, 2, 4, 8, ...: a list
    /// of one or two is exactly as long as it is, with no shrinking needed.
    #[test]
    fn a_lean_push_grows_from_one_by_doubling() {
        let mut v: Vec<u32> = Vec::new();
        let mut rooms = Vec::new();
        for x in 0..40 {
            push_lean(&mut v, x);
            rooms.push(v.capacity());
        }
        assert_eq!(v, (0..40).collect::<Vec<_>>());
        assert_eq!(&rooms[..5], &[1, 2, 4, 4, 8]);
        assert!(rooms
            .iter()
            .zip(1..)
            .all(|(&room, len)| room >= len && room < 2 * len));
        let mut l: List<u32> = List::new();
        l.push(7);
        l.push(8);
        assert_eq!(l.as_slice(), &[7, 8]);
    }

    #[test]
    fn room_reserved_exactly_is_filled_without_growing() {
        for n in 0..20usize {
            let mut l: List<usize> = List::new();
            l.reserve_exact(n);
            (0..n).for_each(|i| l.push(i));
            assert_eq!(l.as_slice(), (0..n).collect::<Vec<_>>().as_slice());
            let room = l.0.capacity();
            assert_eq!(room, n, "{n}");
        }
    }

    #[test]
    fn an_empty_list_is_one_word_and_holds_nothing() {
        assert_eq!(std::mem::size_of::<List<String>>(), 8);
        let mut l: List<u32> = List::new();
        assert!(l.is_empty() && l.0.capacity() == 0);
        l.extend(std::iter::empty::<u32>());
        assert_eq!(l.0.capacity(), 0, "an empty extend allocates nothing");
        l.push(1);
        l.shrink_to_fit();
        assert_eq!(l, [1]);
        l.retain(|_| false);
        l.shrink_to_fit();
        assert_eq!(l.0.capacity(), 0, "emptied, it gives its room back");
    }

    #[test]
    fn a_list_reads_and_grows_like_a_vec() {
        // Every length to 40, built by push, by extend and by collect, against a Vec.
        for n in 0..40u32 {
            let want: Vec<u32> = (0..n).collect();
            let mut pushed = List::new();
            for x in 0..n {
                pushed.push(x);
            }
            let mut extended = List::new();
            extended.extend(&want);
            let collected: List<u32> = want.iter().copied().collect();
            for l in [&pushed, &extended, &collected] {
                assert_eq!(*l, want);
                assert_eq!(l.len(), want.len());
                assert_eq!(l.iter().sum::<u32>(), want.iter().sum::<u32>());
                assert_eq!(l.clone().into_vec(), want);
                assert_eq!(List::from(want.clone()), *l);
            }
            let mut evens = pushed.clone();
            evens.retain(|x| x % 2 == 0);
            let want_evens: Vec<u32> = want.iter().copied().filter(|x| x % 2 == 0).collect();
            assert_eq!(evens, want_evens);
            for x in &mut pushed {
                *x += 1;
            }
            assert_eq!(pushed.first().copied(), (n > 0).then_some(1));
        }
    }
}
