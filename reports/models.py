# Reports read other apps' models; they own none.
